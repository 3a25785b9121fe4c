// One point of optimize's search (a trial) and the gate kinds: the record the work directory stores and
// the front reports. Its own file so that work-dir.ts and optimize.ts both import it without a cycle.
import type { EstimatorKind } from "../quantize/quantize.ts";

/** A block trial's policy shape: block size per hidden layer and the density τ it was trained at. */
export interface BlockCandidate {
  sizes: number[];
  tau: number;
}

/** The gate kinds a trial can have ("none": the dense model). */
export type GateKind = "svd" | "learned" | "block";
export type GateChoice = GateKind | "auto";
export const GATE_CHOICES: readonly GateChoice[] = ["svd", "learned", "block", "auto"];

export interface Trial {
  /** "input": the given model; "finetuned": after fine-tuning. */
  source: "input" | "finetuned";
  /** What gates it: "svd" or "learned" estimators, "block" policies, or "none" (dense). */
  gate?: GateKind | "none";
  /** A block trial's policy: block size per hidden layer and its τ (its ranks are 0, marginSigmas in σ of each policy logit). */
  block?: BlockCandidate;
  /** For "finetuned": the epoch whose weights it ran (1-based). */
  epoch?: number;
  estimator: EstimatorKind;
  ranks: number[];
  /** Per layer, in σ of the pre-activation. */
  marginSigmas: number[];
  /** Per layer, real margins as the quantizer takes them. */
  margins: number[];
  error: number;
  macsRatio: number;
  /**
   * Validation samples whose correctness differs from the INPUT model's int8 dense model (for a fine-tuned
   * trial: what fine-tuning changed and what the gate changed, together).
   */
  flips: number;
  /**
   * error + safety·√flips / n: the error with the sampling noise of its difference from the input's dense
   * int8 error charged (both are measured on the same samples, so only the flips carry noise). Compared
   * with the target (the input's dense int8 error + the budget).
   */
  bound: number;
  /** With a target: predicted cycles per inference on it, their ratio to the dense model's, the target and the samples priced. */
  cycles?: number;
  cyclesRatio?: number;
  cyclesTarget?: string;
  cyclesSamples?: number;
}
