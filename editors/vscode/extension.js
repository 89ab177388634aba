// The lapse extension: highlighting comes from the grammar in package.json; this starts the
// language server, `lapse lsp` over stdio, for every .lapse file.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function settings() {
  const config = vscode.workspace.getConfiguration("lapse");
  // `${workspaceFolder}/.venv/bin/lapse`: the project's own virtualenv
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? "";
  const path = config.get("server.path", "lapse").replace("${workspaceFolder}", folder);
  return { path, enabled: config.get("server.enabled", true) };
}

async function start(context) {
  const { path, enabled } = settings();
  if (!enabled) {
    return;
  }
  const server = { command: path, args: ["lsp"], transport: TransportKind.stdio };
  client = new LanguageClient("lapse", "lapse language server", server, {
    documentSelector: [{ scheme: "file", language: "lapse" }, { scheme: "untitled", language: "lapse" }],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.lapse") },
  });
  try {
    await client.start();
  } catch (err) {
    client = undefined;
    const fix = "Install it with pip install \"lapse-dsl[lsp]\" or set lapse.server.path to its full path.";
    vscode.window.showErrorMessage(`lapse: could not start '${path} lsp': ${err.message || err}. ${fix}`);
  }
}

async function stop() {
  if (client !== undefined) {
    const running = client;
    client = undefined;
    await running.stop();
  }
}

async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("lapse.restartServer", async () => {
      await stop();
      await start(context);
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("lapse.server")) {
        await stop();
        await start(context);
      }
    }),
  );
  await start(context);
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
