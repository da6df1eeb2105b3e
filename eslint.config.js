// Lint rules for every project. The module-boundaries rule is what keeps libs free of apps
// and pure (codec/util) libs free of I/O: see the depConstraints below.
import nx from "@nx/eslint-plugin";
import tseslint from "typescript-eslint";

const NODE_IO = [
  "node:fs",
  "node:fs/*",
  "node:net",
  "node:child_process",
  "node:os",
  "node:http",
  "node:https",
  "node:tls",
  "node:dgram",
  "node:process",
  "fs",
  "net",
  "child_process",
  "os",
];

// Which project may depend on which, by tag. Tests (and only tests) may also use type:testing helpers
// (the swtpm launcher) and spawn processes.
function boundaries(forTests) {
  const testing = forTests ? ["type:testing"] : [];
  const io = forTests ? [] : NODE_IO;
  return [
    "error",
    {
      enforceBuildableLibDependency: false,
      allow: [],
      // The one accepted cycle, and only through tests: the swtpm launcher sends its TPM commands through
      // @tessera/tss, and tss's own tests start swtpm with it. tss's production code never imports the
      // launcher. (swtpm-testing's build does not wait for ^build, so the build task graph has no cycle.)
      ignoredCircularDependencies: [["@tessera/swtpm-testing", "@tessera/tss"]],
      depConstraints: [
        { sourceTag: "type:app", onlyDependOnLibsWithTags: ["type:feature", "type:codec", "type:util", ...testing] },
        { sourceTag: "type:feature", onlyDependOnLibsWithTags: ["type:feature", "type:codec", "type:util", ...testing] },
        { sourceTag: "type:codec", onlyDependOnLibsWithTags: ["type:codec", "type:util", ...testing], bannedExternalImports: io },
        { sourceTag: "type:util", onlyDependOnLibsWithTags: ["type:util", ...testing], bannedExternalImports: io },
        { sourceTag: "type:testing", onlyDependOnLibsWithTags: ["type:feature", "type:codec", "type:util", "type:testing"] },
        // Tools (conformance runners, benchmarks, demos) drive the apps they measure.
        { sourceTag: "type:tool", onlyDependOnLibsWithTags: ["type:app", "type:feature", "type:codec", "type:util", "type:testing", "type:tool"] },
      ],
    },
  ];
}

export default [
  { ignores: ["**/dist/**", "**/node_modules/**", "**/.nx/**"] },
  {
    files: ["**/*.ts"],
    languageOptions: { parser: tseslint.parser, parserOptions: { ecmaVersion: "latest", sourceType: "module" } },
    plugins: { "@nx": nx, "@typescript-eslint": tseslint.plugin },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-syntax": [
        "error",
        { selector: "TSEnumDeclaration", message: "Enums are not erasable syntax: use a const object." },
        { selector: "TSModuleDeclaration[kind!='global']", message: "Namespaces are not erasable syntax." },
        { selector: "TSParameterProperty", message: "Parameter properties are not erasable syntax." },
      ],
      "@nx/enforce-module-boundaries": boundaries(false),
    },
  },
  {
    // Tests, and the helpers only tests import (_test_support.ts), may use the type:testing libs.
    files: ["**/*_test.ts", "**/_*test_support.ts"],
    rules: { "@nx/enforce-module-boundaries": boundaries(true) },
  },
  {
    // Pure libs: no Node I/O even where the nx rule cannot see it (node: builtins).
    files: [
      "libs/tpm2/src/**/*.ts",
      "libs/kmip/src/**/*.ts",
      "libs/pki/src/**/*.ts",
      "libs/eventlog/src/**/*.ts",
      "libs/host-image/src/**/*.ts",
      "libs/appraisal/src/**/*.ts",
      "libs/tokens/src/**/*.ts",
      "libs/ek-trust/src/**/*.ts",
    ],
    ignores: ["**/*_test.ts", "**/_*test_support.ts"],
    rules: {
      "no-restricted-imports": ["error", { paths: NODE_IO.filter((m) => !m.includes("*")), patterns: ["node:fs/*"] }],
      "no-restricted-globals": ["error", "process", "require"],
    },
  },
];
