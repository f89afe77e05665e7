// Issue 12 point 4's last clean model: an all-conv net with batch norm over
// the batch and both spatial axes (section 9's axis lists, var and
// c[:, None, None]) gets no finding, and its twin with a const(-3) shift
// after the norm is reported dead at that relu.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { frontEnd } from "../../src/passes/pipeline.js";
import { lint } from "../helpers/lint.js";

const clean = readFileSync("tests/lint/models/allconv_batchnorm.bp", "utf8");

describe("lint: an all-conv net with batch norm", () => {
  it("is clean", () => {
    expect(lint(frontEnd(clean, "allconv_batchnorm.bp").ir, clean)).toEqual([]);
  });

  it("its twin with a const(-3) shift after the first norm has a dead relu there", () => {
    const twin = clean.replace("param  c1: [16] ~ zeros", "param  c1: [16] ~ const(-3)");
    expect(twin).not.toBe(clean);
    const found = lint(frontEnd(twin, "twin.bp").ir, twin);
    expect(found.map((d) => d.rule)).toEqual(["dead-relu"]);
    expect(found[0].message).toContain("c1 ~ const(-3)");
  });
});
