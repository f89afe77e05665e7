// SARIF artifact URIs are built without Node's url module (the linter is
// browser-safe), so they are checked here against pathToFileURL itself.
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { artifactUri } from "../../src/lint/format.js";

describe("artifactUri", () => {
  it("gives an absolute path the file: URL that pathToFileURL gives", () => {
    const paths = [
      "/tmp/a.bp",
      "/tmp/my models/a b.bp",
      "/tmp/é ü/模型.bp",
      "/tmp/100%.bp",
      "/tmp/a#b?.bp",
      "/tmp/back\\slash.bp",
      "/tmp/x/../y/./z.bp",
      "//tmp//double.bp",
      "/tmp/<>\"`{}^|[]@!$&'()*+,;=~.bp",
      "/tmp/tab\there\nnl.bp",
      "/tmp/a:b.bp",
      "/",
    ];
    for (const p of paths) expect(artifactUri(p), p).toBe(pathToFileURL(p).href);
  });

  it("keeps a relative path a URI reference, and a Windows drive path a file: URL", () => {
    expect(artifactUri("my models/dqn clipped.bp")).toBe("my%20models/dqn%20clipped.bp");
    expect(artifactUri("models\\a#1.bp")).toBe("models/a%231.bp");
    expect(artifactUri("C:\\Users\\me\\m.bp")).toBe("file:///C:/Users/me/m.bp");
  });
});
