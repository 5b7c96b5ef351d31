// One lint config for the whole monorepo. Its one job that matters most: keep
// every `src/core/` pure. Core code is a state machine driven by an injected
// clock, PRNG and transport, that hands its work back in a Ready batch (see
// ../shared/STYLE.md and docs/design.md), so wall-clock reads, timers,
// ambient randomness, Node's I/O modules and anything asynchronous (async
// functions, await, promises) are errors there, and a seeded simulation can
// replay any run. The same rules hold in `src/ladder/` (the simpler designs
// each stage's ladder runs beside its final one are state machines in the
// same simulation) and in every simulation folder (`src/**/sim/`): what
// drives the cores in a seeded run obeys the cores' rules.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** The purity rules, with messages naming the folder they guard. */
const purityRules = (folder) => ({
  "no-restricted-globals": [
    "error",
    ...["setTimeout", "setInterval", "setImmediate", "clearTimeout", "clearInterval", "clearImmediate", "queueMicrotask", "performance", "process", "fetch"].map(
      (name) => ({ name, message: `${folder} is pure: inject time and I/O instead of using ${name}.` }),
    ),
  ],
  "no-restricted-properties": [
    "error",
    { object: "Date", property: "now", message: `${folder} is pure: take nowMs as an argument.` },
    { object: "Math", property: "random", message: `${folder} is pure: use the injected Prng.` },
    { object: "performance", property: "now", message: `${folder} is pure: take nowMs as an argument.` },
    { object: "crypto", property: "getRandomValues", message: `${folder} is pure: use the injected Prng.` },
    { object: "crypto", property: "randomUUID", message: `${folder} is pure: use the injected Prng.` },
  ],
  "no-restricted-syntax": [
    "error",
    { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: `${folder} is pure: \`new Date()\` reads the wall clock.` },
    { selector: "CallExpression[callee.name='Date']", message: `${folder} is pure: \`Date()\` reads the wall clock.` },
    // Synchronous all the way: a core returns its work in a Ready, it never waits for it.
    { selector: ":function[async=true]", message: `${folder} is pure: no async functions; return the work in a Ready and let the driver wait.` },
    { selector: "AwaitExpression", message: `${folder} is pure: no await; return the work in a Ready and let the driver wait.` },
    { selector: "ForOfStatement[await=true]", message: `${folder} is pure: no for await; return the work in a Ready and let the driver wait.` },
    { selector: "NewExpression[callee.name='Promise']", message: `${folder} is pure: no promises; take a callback or return the work in a Ready.` },
    { selector: "MemberExpression[object.name='Promise']", message: `${folder} is pure: no promises; take a callback or return the work in a Ready.` },
    { selector: "TSTypeReference[typeName.name=/^(Promise|PromiseLike)$/]", message: `${folder} is pure: no Promise-returning APIs; promises belong in src/io.` },
  ],
  "no-restricted-imports": [
    "error",
    {
      patterns: [
        { regex: "^node:", message: `${folder} is pure: Node's I/O modules belong in src/io.` },
        { regex: "^(fs|net|dgram|http|https|http2|child_process|os|timers|crypto|worker_threads|cluster|dns|tls|process|perf_hooks)(/.*)?$", message: `${folder} is pure: Node's I/O modules belong in src/io.` },
      ],
    },
  ],
});

export default tseslint.config(
  { ignores: ["**/node_modules/**", "**/dist/**", "**/.turbo/**", "**/coverage/**", "**/*.d.ts", "test/fixtures/lint/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: "module" },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  { files: ["**/*.js", "**/*.mjs", "**/*.cjs"], languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly", setTimeout: "readonly", clearTimeout: "readonly" } } },
  { files: ["**/src/core/**/*.ts", "test/fixtures/lint-core/src/core/**/*.ts"], rules: purityRules("src/core") },
  { files: ["**/src/ladder/**/*.ts"], rules: purityRules("src/ladder") },
  // Simulation folders, wherever they sit under a src/ (a stage's src/sim, or a deeper one).
  { files: ["**/src/**/sim/**/*.ts"], rules: purityRules("a simulation folder (src/**/sim)") },
);
