// Tokenizes .lapse texts with the TextMate grammar, the way VS Code does (vscode-textmate on the
// Oniguruma regex engine compiled to WebAssembly), for tests/test_textmate.py.
//
//   node editors/test/tokenize.mjs [GRAMMAR] < texts.json > tokens.json
//
// stdin: a JSON array of texts. stdout: for each text, for each line (split on \n, a \r kept as
// the editor would drop it), the tokens as [start column, end column, [scope, ...]], columns
// counted in UTF-16 code units from 0. One process for every text: starting Oniguruma costs more
// than tokenizing all of rules/ and the docs.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const here = path.dirname(fileURLToPath(import.meta.url));
const grammarPath = process.argv[2] ?? path.join(here, "..", "lapse.tmLanguage.json");

const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm"));
await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));

const registry = new vsctm.Registry({
  onigLib: Promise.resolve({
    createOnigScanner: (sources) => new oniguruma.OnigScanner(sources),
    createOnigString: (text) => new oniguruma.OnigString(text),
  }),
  loadGrammar: async (scopeName) => {
    const raw = JSON.parse(fs.readFileSync(grammarPath, "utf8"));
    return scopeName === raw.scopeName ? vsctm.parseRawGrammar(JSON.stringify(raw), grammarPath) : null;
  },
});

const scopeName = JSON.parse(fs.readFileSync(grammarPath, "utf8")).scopeName;
const grammar = await registry.loadGrammar(scopeName);
if (grammar === null) {
  throw new Error(`${grammarPath}: no grammar for ${scopeName}`);
}

const texts = JSON.parse(fs.readFileSync(0, "utf8"));
const out = texts.map((text) => {
  let stack = vsctm.INITIAL;
  return text.split("\n").map((line) => {
    const content = line.endsWith("\r") ? line.slice(0, -1) : line;
    const result = grammar.tokenizeLine(content, stack, 10000);
    if (result.stoppedEarly) {
      throw new Error(`tokenizing took over 10 s on line: ${content}`);
    }
    stack = result.ruleStack;
    return result.tokens.map((t) => [t.startIndex, Math.min(t.endIndex, content.length), t.scopes]);
  });
});
process.stdout.write(JSON.stringify(out));
