/**
 * Behaviour a run was recorded with (ADR 84). A change to what the engine decides for a plan
 * that existing runs could also meet gets a flag here; every run records the flags of the engine
 * that starts it in `RunStarted.engine.flags`, and the code that changed asks whether the run it
 * decides for has the flag. A run recorded before the change has not, and refolds, replays and
 * resumes with the behaviour it was recorded with (Temporal's patch markers, as data).
 *
 * Flags are only ever added; a flag's behaviour stays as long as runs recorded without it may
 * still be refolded.
 */
export const ENGINE_FLAGS = {
  /**
   * ADR 90: an `ask_user` step with an `input_schema` or `output_schema` asks with it (the answer
   * is checked against it on resume); before, it asked with `{}` and took any answer.
   */
  askUserAnswerSchema: 'ask-user-answer-schema',
  /** ADR 77: a rendering of the whole context leaves out its top-level `__` keys. */
  contextViewHidesEngineKeys: 'context-view-hides-engine-keys',
  /**
   * ADR 126: templates and expressions list an object's keys sorted by code point (as Jinja's
   * `tojson` does), whatever order the run built them in. Before, the order the keys were added,
   * which a snapshot does not keep: a context or `steps` listed after a resume from one (a pause,
   * a crash) differed from the same run uninterrupted and from its refold, so `lens replay` of a
   * run that paused diverged where a template listed them after the pause.
   */
  objectKeysInOrder: 'object-keys-in-order',
  /**
   * ADR 131: arithmetic in a template or expression whose result is not a finite number
   * (`1e308 * 10`) is an EXPRESSION_ERROR where it is evaluated, `%` follows Python's sign rule
   * without overflowing, and `round` keeps a number too large to scale. Before, the result was
   * Infinity or NaN: a longer text printed it, a condition compared it, and a one-tag template
   * failed the run at the ledger.
   */
  nonFiniteArithmeticFails: 'non-finite-arithmetic-fails',
  /**
   * ADR 134: a state that asked a person leaves by its first matching `on: pause` rule, and a
   * matching rule back to the state itself counts: the state stays, its success or failure rules
   * apply, and no later pause rule is tried. Before, a rule back to the state was skipped, `when`
   * and all, so a later pause rule moved the machine on.
   */
  firstPauseRuleWins: 'first-pause-rule-wins',
  /** ADR 77: a hitl message that renders to an object or list is JSON indented by two spaces. */
  hitlMessageIndented: 'hitl-message-indented',
  /**
   * ADR 95: a step using a registered hitl skill, declaring no schema of its own, asks with the
   * skill's declared `hitl.inputSchema`; before, it asked with `{}` and took any answer.
   */
  hitlSkillAnswerSchema: 'hitl-skill-answer-schema',
  /**
   * ADR 111: a step using a registered hitl skill asks with the param the skill's
   * `hitl.messageParam` names; before, with `params.question` whatever the skill named.
   */
  hitlSkillMessageParam: 'hitl-skill-message-param',
  /**
   * ADR 109: a map drops what an item kept by runtime path (its input, attempt, error, selection
   * and everything below it) as soon as the item completes, keeping only its output; before, all
   * of it stayed until the map ended, so snapshots and memory grew with the items done.
   */
  mapItemKeepsOnlyOutput: 'map-item-keeps-only-output',
  /**
   * ADR 110: `RunStarted.context` leaves out an `initial_prompt` equal to the run's `input` (the
   * CLI's and a worker's runs, whose input is `context.initial_prompt`): the input is recorded
   * once, and the run's context takes it from `input`, as it always has for a context without
   * one. Before, `RunStarted` held it twice.
   */
  runInputRecordedOnce: 'run-input-recorded-once',
  /**
   * ADR 77: a rendering of step outputs (`context.step_outputs`, `steps`) leaves out the outputs
   * the engine keeps under `__` names (a loop's or an import's stash).
   */
  stepOutputsHideEngineKeys: 'step-outputs-hide-engine-keys',
  /**
   * ADR 123: a node marked `keepOutput` (a step a template reads as `steps['x-y']`, or every
   * step when one reads `steps` whole or by a computed name) writes its output to
   * `context.step_outputs.<name>`; before, only the steps read as `steps.<name>` did.
   */
  stepOutputsKeptForEveryRead: 'step-outputs-kept-for-every-read',
} as const;

export type EngineFlag = (typeof ENGINE_FLAGS)[keyof typeof ENGINE_FLAGS];

/**
 * Behaviour older than the flags (ADR 93): no run records it, but every run that records ADR 84's
 * flags has it, so they imply it. A run that records none may come from a release before the
 * change or after it, and the ledger does not say which: the code that asks treats such a run as
 * unknown, not as one without the behaviour.
 */
export const IMPLIED_FLAGS = {
  /**
   * ADR 40 (a6cfe85 for replies, f260503 for what plan code returns): the values a run holds are
   * as the ledger reads them back, so an object's keys come in the ledger's order, and so does a
   * hitl message that renders one. Before, they came in the order the code that made them (an
   * agent, the caller's context) built them, which the ledger does not keep.
   */
  runValuesAsRecorded: 'run-values-as-recorded',
} as const;

export type ImpliedFlag = (typeof IMPLIED_FLAGS)[keyof typeof IMPLIED_FLAGS];

/** The recorded flag that implies each implied one: every run since ADR 84 records it. */
const IMPLIED_BY: Record<ImpliedFlag, EngineFlag> = {
  'run-values-as-recorded': ENGINE_FLAGS.contextViewHidesEngineKeys,
};

/** Whether a run that recorded `flags` is known to have had the implied behaviour `flag`. */
export const knownToHave = (flags: readonly string[] | undefined, flag: ImpliedFlag): boolean =>
  flags?.includes(IMPLIED_BY[flag]) ?? false;

/** What a run started by this engine records, sorted. */
export const CURRENT_ENGINE_FLAGS: readonly EngineFlag[] = Object.values(ENGINE_FLAGS).sort();

/**
 * The flags of the run whose transition is being computed. The machine's own code reads them
 * from its context; code the plan holds (templates and expressions, src/blueprint) is called with
 * run values only, so src/actors/pure.ts sets this for the synchronous span of one transition.
 * Outside a transition (validation, a template rendered by a tool) it is today's behaviour.
 */
let current: readonly string[] = CURRENT_ENGINE_FLAGS;

export function withEngineFlags<T>(flags: readonly string[] | undefined, fn: () => T): T {
  const outer = current;
  current = flags ?? [];
  try {
    return fn();
  } finally {
    current = outer;
  }
}

/** Whether the run being decided for was recorded with this behaviour. */
export const recordedWith = (flag: EngineFlag): boolean => current.includes(flag);
