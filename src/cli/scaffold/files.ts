/**
 * The files `flujo init` writes. The pipeline runs with no API key (builtin skills and a human
 * approval), so a newcomer sees a run pause, resume and show up in lens before spending a cent.
 */
export const FLUJO_TOML = `# Flujo project settings. Every key is described in docs/configuration.md of the Flujo
# sources; \`flujo show-config\` prints the settings in effect and where each came from.

# Where runs are recorded. Default: the embedded SQLite ledger below.
state_uri = "sqlite:///.flujo/state.db"

# API keys and base URLs (OPENAI_API_KEY, ANTHROPIC_API_KEY, OPENAI_BASE_URL…) may live here.
# env_file = ".env"

[settings]
# Hosts flujo.builtins.http_get may reach.
http_allowed_hosts = []

# [cost]
# strict = true   # refuse models without a price
# [cost.providers.openai."gpt-4o-mini"]
# prompt_tokens_per_1k = 0.00015
# completion_tokens_per_1k = 0.0006

[budgets.default]
total_cost_usd_limit = 1.0
`;

export const PIPELINE_YAML = `# yaml-language-server: $schema=node_modules/flujo/schemas/blueprint.schema.json
# Runs with no API key:   flujo run --input "Ada"
# It pauses for your approval; resume with the command it prints, then: flujo lens show <run>
version: "0.1"
name: welcome

steps:
  - kind: step
    name: greet
    agent:
      id: flujo.builtins.stringify
    input: "Hello, {{ context.initial_prompt or 'world' }}! Welcome to Flujo."

  - kind: hitl
    name: approve
    message: "Publish this greeting? {{ previous_step }}"
    input_schema:
      type: object
      properties:
        approved: { type: boolean }
      required: [approved]

  - kind: conditional
    name: decide
    condition_expression: "previous_step.approved"
    branches:
      "true":
        - kind: step
          name: publish
          agent:
            id: flujo.builtins.stringify
          input: "Published: {{ steps.greet.output }}"
      "false":
        - kind: step
          name: shelve
          agent:
            id: flujo.builtins.stringify
          input: "Shelved."

# With an API key (or a local model through OPENAI_BASE_URL), an agent step looks like this:
#
# agents:
#   writer:
#     model: "openai:gpt-4o-mini"          # or "anthropic:claude-3-5-haiku-latest"
#     system_prompt: "You write one warm sentence."
#     output_schema:
#       type: object
#       properties: { greeting: { type: string } }
#       required: [greeting]
#
# steps:
#   - kind: step
#     name: write
#     uses: agents.writer
#     input: "Greet {{ context.initial_prompt }}"
`;

export const SKILLS_YAML = `# Project skills: each is a function in a module of this project.
# Use one in pipeline.yaml with:  agent: { id: shout }
skills:
  - id: shout
    description: Upper-cases its text input.
    path: ./skills/shout.mjs
    export: shout
    side_effects: false
    input_schema: { type: string }
    output_schema: { type: string }
`;

export const SHOUT_MJS = `/** A project skill: the step's input comes in, its output goes out. */
export function shout(input) {
  return String(input).toUpperCase();
}
`;

export const ENV_EXAMPLE = `# Copy to .env and set env_file = ".env" in flujo.toml, or export these in your shell.
OPENAI_API_KEY=
ANTHROPIC_API_KEY=
# A local OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio):
# OPENAI_BASE_URL=http://localhost:11434/v1
`;

export const GITIGNORE = `.flujo/
.env
node_modules/
`;

export const SCAFFOLD: readonly { readonly path: string; readonly text: string }[] = [
  { path: 'flujo.toml', text: FLUJO_TOML },
  { path: 'pipeline.yaml', text: PIPELINE_YAML },
  { path: 'skills.yaml', text: SKILLS_YAML },
  { path: 'skills/shout.mjs', text: SHOUT_MJS },
  { path: '.env.example', text: ENV_EXAMPLE },
  { path: '.gitignore', text: GITIGNORE },
];
