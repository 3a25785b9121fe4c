// The small MNIST split the block-policy tests train on: the first 700 training digits, 500 to train and 200 to
// validate (test/condnet.test.ts, test/condnet-options.test.ts).
import { loadMnist, type MnistSet } from "../../toolchain/data/mnist.ts";

export function smallMnistSplit(): { train: MnistSet; val: MnistSet } {
  const all = loadMnist("train", { limit: 700 });
  return {
    train: { ...all, images: all.images.slice(0, 500 * 784), labels: all.labels.slice(0, 500), count: 500 },
    val: { ...all, images: all.images.slice(500 * 784), labels: all.labels.slice(500), count: 200 },
  };
}
