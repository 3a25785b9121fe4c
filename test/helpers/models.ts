// Random small MLP shapes for network-level property tests: each hidden layer gets a block gate,
// an estimator or neither.
import fc from "fast-check";

export interface GatedNetCase {
  sizes: number[];
  kinds: { gate: number; rank: number }[];
  seed: number;
  zeros: number;
}

/** Widths from the odd-size list or [1, maxDim]; `zeros`: input zero fractions to draw from. */
export const gatedNetCase = (maxDim: number, zeros: number[]): fc.Arbitrary<GatedNetCase> =>
  fc.array(fc.oneof(fc.constantFrom(1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33), fc.integer({ min: 1, max: maxDim })), { minLength: 2, maxLength: 5 })
    .chain((sizes) =>
      fc.record({
        sizes: fc.constant(sizes),
        kinds: fc.tuple(...sizes.slice(1).map((o, l) =>
          fc.oneof(fc.record({ gate: fc.integer({ min: 1, max: o }), rank: fc.constant(0) }),
            fc.record({ gate: fc.constant(0), rank: fc.integer({ min: 0, max: Math.min(sizes[l], o) }) })))),
        seed: fc.integer({ min: 1, max: 1 << 30 }),
        zeros: fc.constantFrom(...zeros),
      }),
    );
