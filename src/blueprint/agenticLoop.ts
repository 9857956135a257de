/**
 * `kind: agentic_loop` (Flujo §1.3, recipes.make_agentic_loop_pipeline): a planner agent picks
 * the next command each turn, the loop carries it out, logs it, and stops on `finish`. Commands
 * are Flujo's: `{type: run_agent, agent_name, input_data}` runs a tool from `registry` (agents,
 * skills or model ids, each call recorded through the agent port), `{type: ask_human, question}`
 * pauses durably, `{type: finish, final_answer}` ends the loop. Each turn appends
 * `{turn, generated_command, execution_result}` to `context.command_log` (turn counts from 0),
 * which the planner sees beside the goal. The loop's output is the final answer, or
 * `output_template` rendered with the last log entry as `previous_step`.
 */
import type { HitlNode, PlanNode } from '../dsl/ir.js';
import type { Env, Where } from './env.js';
import { basicStep, get, identity, type Base } from './steps.js';
import { maxLoopsOf } from './stepsIterate.js';
import type { YNode } from './yamlTree.js';

const LOG = 'command_log';
const DEFAULT_MAX_LOOPS = 10;

/** A YAML agent reference as a step mapping basicStep reads (`uses:` for agents./imports.). */
function specOf(v: YNode): YNode {
  const key = v.t === 'scalar' && /^(agents|imports)\./.test(String(v.value)) ? 'uses' : 'agent';
  return { t: 'map', pos: v.pos, entries: [{ key, keyPos: v.pos, value: v }] };
}

export function agenticLoop(
  env: Env,
  node: YNode,
  name: string,
  where: Where,
  base: Base,
): PlanNode | undefined {
  const inner: Where = { ...where, inLoop: true, yamlPath: `${where.yamlPath}.agentic_loop` };
  const plannerNode = get(node, 'planner');
  if (!plannerNode) {
    env.report('V-K4', `${name}: an agentic loop needs 'planner' (an agent spec)`, node.pos, {
      step: name,
      suggestion: `add 'planner: agents.<name>' whose output is a command object`,
    });
    return undefined;
  }
  const goal = env.hiddenName(name, 'goal');
  const plannerName = `${name}.planner`;
  const plannerKey = env.hiddenName(name, 'command');
  const planner = basicStep(env, specOf(plannerNode), plannerName, inner, {
    name: plannerName,
    input: {
      template: { goal: `{{ steps.${goal}.output }}`, command_log: `{{ context.${LOG} }}` },
    },
  });
  if (!planner) return undefined;

  const tools: Record<string, PlanNode> = {};
  const registry = get(node, 'registry');
  if (registry && registry.t !== 'map') {
    env.report('V-K4', `${name}: 'registry' must map tool names to agent specs`, registry.pos, {
      step: name,
    });
  }
  for (const e of registry?.t === 'map' ? registry.entries : []) {
    const toolName = `${name}.${e.key}`;
    const tool = basicStep(env, specOf(e.value), toolName, inner, {
      name: toolName,
      input: { template: '{{ previous_step.input_data }}' },
    });
    if (tool) tools[e.key] = tool;
  }
  const known = Object.keys(tools).join(', ') || '(none)';
  const ask: HitlNode = {
    kind: 'hitl',
    name: `${name}.ask_human`,
    message: '',
    render: { template: '{{ previous_step.question }}' },
    inputSchema: {},
    record: ['resume_input'],
  };
  const dispatch: PlanNode = {
    kind: 'conditional',
    name: env.hiddenName(name, 'dispatch'),
    condition: { expr: "previous_step.get('type')" },
    branches: {
      run_agent: {
        kind: 'conditional',
        name: env.hiddenName(name, 'tool'),
        condition: { expr: "previous_step.get('agent_name')" },
        branches: tools,
        default: identity(env.hiddenName(name, 'unknown_tool'), {
          input: {
            template: `unknown agent '{{ previous_step.agent_name }}'; the registry has: ${known}`,
          },
        }),
      },
      ask_human: ask,
      finish: identity(env.hiddenName(name, 'finish'), {
        input: { template: '{{ previous_step.final_answer }}' },
      }),
    },
    default: identity(env.hiddenName(name, 'invalid'), {
      input: {
        template:
          'invalid command {{ previous_step | tojson }}: use {type: run_agent | ask_human | finish}',
      },
    }),
  };
  const log = identity(env.hiddenName(name, 'log'), {
    input: {
      contextOp: 'append',
      target: LOG,
      value: {
        turn: `{{ context.${LOG} | length }}`,
        generated_command: `{{ steps.${plannerKey}.output }}`,
        execution_result: '{{ previous_step }}',
      },
    },
    sinkTo: LOG,
  });
  const entry = identity(env.hiddenName(name, 'entry'), {
    input: { template: `{{ context.${LOG} | last }}` },
  });
  const maxNode = get(node, 'max_loops');
  const max = maxLoopsOf(env, maxNode, name);
  const tpl = get(node, 'output_template');
  const output = tpl
    ? env.template(tpl, name, where)
    : { template: '{{ previous_step.execution_result }}' };
  const loop: PlanNode = {
    kind: 'loop',
    name: `${name}.turns`,
    body: {
      kind: 'sequence',
      name: `${name}.turn`,
      steps: [{ ...planner, record: [`step_outputs.${plannerKey}`] }, dispatch, log, entry],
    },
    // Floored, as before counts were checked (5db5502): a run recorded with 2.5 ran 2.
    maxLoops: Math.floor(max ?? DEFAULT_MAX_LOOPS),
    exit: { expr: "previous_step.generated_command.get('type') == 'finish'" },
    output,
  };
  return {
    kind: 'sequence',
    ...base,
    steps: [
      identity(goal, { record: [`step_outputs.${goal}`] }),
      identity(env.hiddenName(name, 'reset'), {
        input: { contextOp: 'set', target: LOG, value: [] },
        sinkTo: LOG,
      }),
      loop,
    ],
  };
}
