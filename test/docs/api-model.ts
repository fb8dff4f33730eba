/**
 * The public API as the TypeScript compiler sees it, for docs/api.md and its test: every export
 * of src/index.ts, every member of `ngx` (and of its namespaces: ngx.timer.at, …), every config
 * key of `UserConfig` (nested ones dotted: timers.maxPending), each with its TSDoc and examples.
 * `node --import tsx test/docs/api-model.ts --write` writes docs/api.md from it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as prettier from "prettier";
import ts from "typescript";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const API_MD = join(ROOT, "docs/api.md");

export type Group = "export" | "ngx" | "config";

export interface ApiEntry {
  /** `SharedDict`, `ngx.timer.at`, `timers.maxPending`. */
  readonly name: string;
  readonly group: Group;
  /** The TSDoc text (tags left out). */
  readonly doc: string;
  readonly examples: readonly string[];
  readonly signature: string;
  /** The file that declares it (no line: a line number would change with every edit above it). */
  readonly where: string;
}

/** ngx's members that are namespaces of functions: their members are entries of their own. */
const NGX_NAMESPACES = new Set(["timer", "pipe", "shell", "worker", "process", "config"]);

function program(): { checker: ts.TypeChecker; index: ts.SourceFile; config: ts.SourceFile } {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    join(ROOT, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  if (parsed === undefined) throw new Error("tsconfig.json could not be read");
  const indexPath = join(ROOT, "src/index.ts");
  const configPath = join(ROOT, "src/config/types.ts");
  const built = ts.createProgram([indexPath], parsed.options);
  const index = built.getSourceFile(indexPath);
  const config = built.getSourceFile(configPath);
  if (index === undefined || config === undefined) throw new Error("src/index.ts not in the program");
  return { checker: built.getTypeChecker(), index, config };
}

function where(declaration: ts.Declaration | undefined): string {
  if (declaration === undefined) return "?";
  return relative(ROOT, declaration.getSourceFile().fileName);
}

function docOf(symbol: ts.Symbol, checker: ts.TypeChecker): { doc: string; examples: string[] } {
  const doc = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
  const examples = symbol
    .getJsDocTags(checker)
    .filter((tag) => tag.name === "example")
    .map((tag) => ts.displayPartsToString(tag.text).trim());
  return { doc, examples };
}

const printer = ts.createPrinter({ removeComments: true });

function declarationText(symbol: ts.Symbol, checker: ts.TypeChecker): string {
  const declaration = symbol.declarations?.[0];
  if (declaration === undefined) return symbol.name;
  const file = declaration.getSourceFile();
  if (ts.isFunctionDeclaration(declaration)) {
    const type = checker.getTypeOfSymbolAtLocation(symbol, declaration);
    return type
      .getCallSignatures()
      .map((s) => `function ${symbol.name}${checker.signatureToString(s)};`)
      .join("\n");
  }
  if (ts.isVariableDeclaration(declaration)) {
    return `const ${symbol.name}: ${checker.typeToString(checker.getTypeOfSymbolAtLocation(symbol, declaration))};`;
  }
  if (ts.isClassDeclaration(declaration) || ts.isInterfaceDeclaration(declaration)) {
    const members = membersText(symbol, declaration, checker);
    if (members.length > 0) {
      const keyword = ts.isClassDeclaration(declaration) ? "class" : "interface";
      const parameters = declaration.typeParameters?.map((t) => t.getText(file)).join(", ");
      const heritage = declaration.heritageClauses?.map((h) => ` ${h.getText(file)}`).join("") ?? "";
      const generic = parameters === undefined ? "" : `<${parameters}>`;
      return `${keyword} ${symbol.name}${generic}${heritage} {\n${members.join("\n")}\n}`;
    }
  }
  return printer.printNode(ts.EmitHint.Unspecified, declaration, file);
}

/** The public members of a class or an interface, each with the first paragraph of its TSDoc. */
function membersText(
  symbol: ts.Symbol,
  declaration: ts.ClassDeclaration | ts.InterfaceDeclaration,
  checker: ts.TypeChecker,
): string[] {
  const hidden = ts.ModifierFlags.Private | ts.ModifierFlags.Protected | ts.ModifierFlags.Static;
  return checker
    .getPropertiesOfType(checker.getDeclaredTypeOfSymbol(symbol))
    .filter((member) => {
      const d = member.declarations?.[0];
      if (member.name.startsWith("#") || d === undefined || ts.isConstructorDeclaration(d)) return false;
      return (ts.getCombinedModifierFlags(d) & hidden) === 0;
    })
    .map((member) => {
      const summary = ts
        .displayPartsToString(member.getDocumentationComment(checker))
        .split(/\n\s*\n/)[0]
        ?.replace(/\s*\n\s*/g, " ")
        .trim();
      const signature = memberSignature(member.name, member, checker, declaration)
        .split("\n")
        .map((line) => `  ${line};`)
        .join("\n");
      return summary === undefined || summary === "" ? signature : `  /** ${summary} */\n${signature}`;
    });
}

function entry(
  name: string,
  group: Group,
  symbol: ts.Symbol,
  checker: ts.TypeChecker,
  signature: string,
): ApiEntry {
  return { name, group, ...docOf(symbol, checker), signature, where: where(symbol.declarations?.[0]) };
}

function memberSignature(name: string, symbol: ts.Symbol, checker: ts.TypeChecker, at: ts.Node): string {
  const type = checker.getTypeOfSymbolAtLocation(symbol, at);
  const signatures = symbol.flags & ts.SymbolFlags.Method ? type.getCallSignatures() : [];
  if (signatures.length > 0)
    return signatures.map((s) => `${name}${checker.signatureToString(s)}`).join("\n");
  const optional = symbol.flags & ts.SymbolFlags.Optional ? "?" : "";
  return `${name}${optional}: ${checker.typeToString(type, undefined, ts.TypeFormatFlags.NoTruncation)}`;
}

/** Every entry of the public API, in the order of docs/api.md. */
export function apiEntries(): ApiEntry[] {
  const { checker, index, config } = program();
  const entries: ApiEntry[] = [];
  const moduleSymbol = checker.getSymbolAtLocation(index);
  if (moduleSymbol === undefined) throw new Error("src/index.ts has no module symbol");
  let ngxSymbol: ts.Symbol | undefined;
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    if (exported.name === "ngx") ngxSymbol = symbol;
    entries.push(entry(exported.name, "export", symbol, checker, declarationText(symbol, checker)));
  }
  if (ngxSymbol?.declarations?.[0] === undefined) throw new Error("src/index.ts exports no ngx");
  const at = ngxSymbol.declarations[0];
  const walk = (prefix: string, type: ts.Type): void => {
    for (const member of checker.getPropertiesOfType(type)) {
      const name = `${prefix}.${member.name}`;
      entries.push(entry(name, "ngx", member, checker, memberSignature(name, member, checker, at)));
      if (prefix === "ngx" && NGX_NAMESPACES.has(member.name))
        walk(name, checker.getTypeOfSymbolAtLocation(member, at));
    }
  };
  walk("ngx", checker.getTypeOfSymbolAtLocation(ngxSymbol, at));

  const userConfig = config.statements.find(
    (s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === "UserConfig",
  );
  if (userConfig === undefined) throw new Error("src/config/types.ts declares no UserConfig");
  const keys = (prefix: string, type: ts.Type): void => {
    for (const member of checker.getPropertiesOfType(type)) {
      const name = prefix === "" ? member.name : `${prefix}.${member.name}`;
      entries.push(
        entry(name, "config", member, checker, memberSignature(name, member, checker, userConfig)),
      );
      // Nested keys: the members of an object written in place (timers: { … }), also inside a union.
      const declared = member.declarations?.[0];
      const typeNode = declared !== undefined && ts.isPropertySignature(declared) ? declared.type : undefined;
      const literals =
        typeNode === undefined
          ? []
          : ts.isTypeLiteralNode(typeNode)
            ? [typeNode]
            : ts.isUnionTypeNode(typeNode)
              ? typeNode.types.filter(ts.isTypeLiteralNode)
              : [];
      for (const literal of literals) keys(name, checker.getTypeAtLocation(literal));
    }
  };
  keys("", checker.getDeclaredTypeOfSymbol(checker.getSymbolAtLocation(userConfig.name)!));
  return entries;
}

const HEADINGS: Record<Group, string> = {
  export: "Exports of `tsresty`",
  ngx: "The `ngx` object",
  config: "Config keys (`tsresty.config.ts`)",
};

const INTRO = `# API reference

Generated from the TSDoc in \`src/\` by \`node --import tsx test/docs/api-model.ts --write\`;
\`test/docs/api.test.ts\` fails when this file and the source disagree. Guides: the README,
[timers](timers.md), [pipes](pipe.md), [shared dictionaries](shdict.md), [HTTP](http.md),
[deployment](deploy.md).
`;

/** docs/api.md's text for `entries`, formatted as prettier formats the repository. */
export async function renderApi(entries: readonly ApiEntry[]): Promise<string> {
  const parts = [INTRO];
  for (const group of ["export", "ngx", "config"] as const) {
    parts.push(`## ${HEADINGS[group]}\n`);
    for (const e of entries.filter((x) => x.group === group)) {
      parts.push(`### \`${e.name}\`\n`);
      parts.push(`${e.doc === "" ? "(undocumented)" : e.doc}\n`);
      parts.push("```ts\n" + e.signature + "\n```\n");
      for (const example of e.examples) parts.push("Example:\n\n```ts\n" + example + "\n```\n");
      parts.push(`<sub>${e.where}</sub>\n`);
    }
  }
  const options = (await prettier.resolveConfig(API_MD)) ?? {};
  return prettier.format(parts.join("\n"), { ...options, filepath: API_MD });
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes("--write")) {
  void renderApi(apiEntries()).then((text) => {
    writeFileSync(API_MD, text);
    console.log(`wrote ${relative(ROOT, API_MD)}`);
  });
}

export function readApiMd(): string {
  return readFileSync(API_MD, "utf8");
}
