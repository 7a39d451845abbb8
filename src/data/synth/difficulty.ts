/**
 * How hard the LA phantoms are: one knob set (`LaDifficulty`), the two named presets (`LA_DIFFICULTY_PRESETS`,
 * the only place their numbers live), the allowed range of every knob, and the checks that turn a
 * `SynthesizeOptions.difficulty` into a complete knob set. A knob at its `standard` value draws no extra random
 * number, so `standard` is the original generator draw for draw.
 */
import { isRecord } from '../../util/args.js';
import { InputError } from '../../util/errors.js';

/** An inclusive range `[low, high]` a per-case value is drawn from (uniformly; integers for counts). */
export type KnobRange = readonly [number, number];

/**
 * The knobs of the LA phantom generator (`makeLaCase`). Lengths are fractions of the volume's axis (x, y or z),
 * distances in units of the main atrium body's radii. Every range is `[low, high]` with low ≤ high, drawn per case.
 */
export interface LaDifficulty {
  /** Center of the main atrium body along x and y, as fractions of the axis length. Allowed: 0–1. */
  centerXY: KnobRange;
  /** Center of the main atrium body along z, as a fraction of the axis length. Allowed: 0–1. */
  centerZ: KnobRange;
  /** Radii of the main atrium body along x and y, as fractions of the axis length. Allowed: 0.02–0.45. */
  radiusXY: KnobRange;
  /** Radius of the main atrium body along z, as a fraction of the axis length. Allowed: 0.02–0.45. */
  radiusZ: KnobRange;
  /**
   * Elongation factor of the main body: one random axis is stretched by it and the other two shrunk by its
   * square root (same volume); 1 = off. Allowed: 1–4.
   */
  elongation: KnobRange;
  /** Largest tilt of the main body about x and y in radians (about z it turns freely). Allowed: 0–3.14. */
  tilt: number;
  /** Irregularity of the target surface (relative amplitude of a smooth random field). Allowed: 0–0.5. */
  roughness: number;
  /**
   * Smallest volume of the main body as a fraction of the volume: smaller draws are enlarged to it (lobes add
   * to the target, a hole removes at most an eighth); 0 = off. Allowed: 0–0.3.
   */
  minForeground: number;
  /**
   * Keep the target inside the volume (the main body with its lobes, and a second component, moved without
   * extra draws to stay 2 voxels from every face where they fit) and never darken it as outside the body
   * ellipse; false = off.
   * Allowed: true or false.
   */
  keepInside: boolean;
  /** Number of lobes (appendage, vein stubs) attached to the main body. Allowed: integers 0–12. */
  lobes: KnobRange;
  /** Lobe radii as fractions of the main body's radii (×1.5 along the lobe's long axis). Allowed: 0.05–1. */
  lobeScale: KnobRange;
  /**
   * Probability that a case draws a second, disconnected target component (with `keepInside` it is added only
   * where it fits inside the volume, shrunk to 80 % at most, so fewer cases have one). Allowed: 0–1.
   */
  secondComponentProbability: number;
  /** Radii of the second component as fractions of the main body's radii. Allowed: 0.1–1. */
  secondComponentScale: KnobRange;
  /** Gap between the main body's surface and the second component, in main-body radii. Allowed: 0.1–3. */
  secondComponentGap: KnobRange;
  /**
   * Probability that the main body has a hole or indentation (a non-target ellipsoid cut out of it, from
   * half-way to the center out to the surface). Allowed: 0–1.
   */
  holeProbability: number;
  /** Radii of the hole as fractions of the main body's radii. Allowed: 0.05–0.5. */
  holeScale: KnobRange;
  /** Blood-pool (target) intensity before gain, bias and noise, in uint8 units. Allowed: 1–255. */
  bloodIntensity: KnobRange;
  /**
   * Probability that a case is a dark-target case (as in a black-blood sequence): its blood pool is darker than
   * the surrounding tissue (`darkBloodRatio` times the tissue intensity), its distractors follow the blood pool
   * as in every case, and the enhanced wall stays brighter than the tissue (tissue + `wallBoost`); 0 = off.
   * Allowed: 0–1.
   */
  darkTargetProbability: number;
  /** Blood-pool intensity of a dark-target case as a fraction of its tissue intensity. Allowed: 0.05–0.95. */
  darkBloodRatio: KnobRange;
  /**
   * Surrounding tissue intensity before texture, gain, bias and noise; its high end must stay below the low
   * end of `bloodIntensity`, so the target is darker than tissue on average only in the dark-target cases
   * (`darkTargetProbability`). Allowed: 0–254.
   */
  tissueIntensity: KnobRange;
  /** Extra brightness of the thin enhanced wall around the target, over the blood pool. Allowed: 0–100. */
  wallBoost: KnobRange;
  /** Per-case scanner gain (multiplies every intensity). Allowed: 0.2–3. */
  gain: KnobRange;
  /** Strength of the multiplicative bias field exp(strength · smooth field). Allowed: 0–1.5. */
  biasStrength: KnobRange;
  /** Standard deviation of the Gaussian noise, drawn per case, in uint8 units. Allowed: 0–100. */
  noiseSigma: KnobRange;
  /** Number of distractor blobs (aorta, ventricle) of blood-like brightness. Allowed: integers 0–10. */
  distractors: KnobRange;
  /**
   * Distance of a distractor's center from the target's center, in main-body radii along a random direction
   * (about 1–1.5 touches the target). Allowed: 0.5–5.
   */
  distractorDistance: KnobRange;
  /** Distractor radii along x and y, as fractions of the axis length. Allowed: 0.01–0.45. */
  distractorRadiusXY: KnobRange;
  /** Distractor radius along z, as a fraction of the axis length. Allowed: 0.01–1. */
  distractorRadiusZ: KnobRange;
  /** Distractor intensity as a ratio to the blood pool's. Allowed: 0.1–2. */
  distractorIntensity: KnobRange;
}

/** The named presets. */
export type LaDifficultyPreset = 'standard' | 'hard' | 'scarce';

/**
 * A partial knob set merged onto a preset: `preset` names the base (default `standard`), every other field
 * replaces that knob.
 */
export type LaDifficultyOverrides = Partial<LaDifficulty> & { preset?: LaDifficultyPreset };

/** What `SynthesizeOptions.difficulty` accepts. */
export type SynthDifficulty = LaDifficultyPreset | LaDifficultyOverrides;

/** The `hard` preset (also the base of `scarce`). */
const HARD: Readonly<LaDifficulty> = {
  centerXY: [0.3, 0.7],
  centerZ: [0.32, 0.68],
  radiusXY: [0.1, 0.24],
  radiusZ: [0.16, 0.38],
  elongation: [1, 1.8],
  tilt: 1.0,
  roughness: 0.16,
  minForeground: 0.025,
  keepInside: true,
  lobes: [0, 6],
  lobeScale: [0.25, 0.65],
  secondComponentProbability: 0.5,
  secondComponentScale: [0.35, 0.6],
  secondComponentGap: [0.35, 0.8],
  holeProbability: 0.3,
  holeScale: [0.3, 0.5],
  bloodIntensity: [110, 160],
  darkTargetProbability: 0,
  darkBloodRatio: [0.35, 0.6],
  tissueIntensity: [40, 90],
  wallBoost: [5, 40],
  gain: [0.75, 1.25],
  biasStrength: [0.1, 0.45],
  noiseSigma: [4, 20],
  distractors: [2, 5],
  distractorDistance: [1.05, 1.5],
  distractorRadiusXY: [0.05, 0.11],
  distractorRadiusZ: [0.2, 0.4],
  distractorIntensity: [0.9, 1.1],
};

/**
 * The presets. `standard` is the original generator (same bytes for the same seed, size and cases); `hard`
 * widens the variation between cases so that a few labeled cases do not cover it, while keeping a target in
 * every case (at least about 2 % of the volume, inside it, brighter than tissue on average). `scarce` is `hard`
 * with less ambiguity inside a case (lower noise and bias, distractors dimmer than the blood pool and a little
 * farther, a clearer wall) and a minority appearance: 30 % dark-target cases, which a handful of labeled cases
 * covers with one example or none. It is the benchmark of the semi-supervised experiment (calibrated there:
 * four labels trail all labels by about 20 Dice points).
 */
export const LA_DIFFICULTY_PRESETS: Readonly<Record<LaDifficultyPreset, Readonly<LaDifficulty>>> = {
  standard: {
    centerXY: [0.42, 0.58],
    centerZ: [0.45, 0.55],
    radiusXY: [0.12, 0.17],
    radiusZ: [0.2, 0.28],
    elongation: [1, 1],
    tilt: 0.4,
    roughness: 0.12,
    minForeground: 0,
    keepInside: false,
    lobes: [1, 3],
    lobeScale: [0.3, 0.5],
    secondComponentProbability: 0,
    secondComponentScale: [0.35, 0.6],
    secondComponentGap: [0.35, 0.8],
    holeProbability: 0,
    holeScale: [0.3, 0.5],
    bloodIntensity: [120, 150],
    darkTargetProbability: 0,
    darkBloodRatio: [0.35, 0.6],
    tissueIntensity: [55, 75],
    wallBoost: [20, 40],
    gain: [0.75, 1.25],
    biasStrength: [0.1, 0.25],
    noiseSigma: [6, 12],
    distractors: [2, 2],
    distractorDistance: [1.6, 2.2],
    distractorRadiusXY: [0.05, 0.09],
    distractorRadiusZ: [0.2, 0.4],
    distractorIntensity: [0.85, 1.05],
  },
  hard: HARD,
  scarce: {
    ...HARD,
    // Less ambiguity inside a case.
    noiseSigma: [4, 12],
    biasStrength: [0.1, 0.35],
    wallBoost: [15, 40],
    distractorDistance: [1.3, 1.9],
    distractorIntensity: [0.75, 0.95],
    // The minority appearance.
    darkTargetProbability: 0.3,
  },
};

/** The preset names, in the order of `LA_DIFFICULTY_PRESETS`. */
export const LA_DIFFICULTY_PRESET_NAMES = Object.keys(LA_DIFFICULTY_PRESETS) as LaDifficultyPreset[];

/** The preset names as a message lists them: `standard, hard or scarce`. */
export const LA_DIFFICULTY_PRESET_LIST = `${LA_DIFFICULTY_PRESET_NAMES.slice(0, -1).join(', ')} or ${LA_DIFFICULTY_PRESET_NAMES.at(-1)}`;

/** Whether `name` is a preset name. */
export function isLaDifficultyPreset(name: unknown): name is LaDifficultyPreset {
  return typeof name === 'string' && Object.hasOwn(LA_DIFFICULTY_PRESETS, name);
}

type KnobRule =
  | { kind: 'range'; min: number; max: number; integer?: boolean }
  | { kind: 'number'; min: number; max: number }
  | { kind: 'boolean' };

/** Allowed values of every knob (the TSDoc of `LaDifficulty` states the same, as `Allowed: …`). */
export const LA_DIFFICULTY_RULES: Readonly<Record<keyof LaDifficulty, KnobRule>> = {
  centerXY: { kind: 'range', min: 0, max: 1 },
  centerZ: { kind: 'range', min: 0, max: 1 },
  radiusXY: { kind: 'range', min: 0.02, max: 0.45 },
  radiusZ: { kind: 'range', min: 0.02, max: 0.45 },
  elongation: { kind: 'range', min: 1, max: 4 },
  tilt: { kind: 'number', min: 0, max: 3.14 },
  roughness: { kind: 'number', min: 0, max: 0.5 },
  minForeground: { kind: 'number', min: 0, max: 0.3 },
  keepInside: { kind: 'boolean' },
  lobes: { kind: 'range', min: 0, max: 12, integer: true },
  lobeScale: { kind: 'range', min: 0.05, max: 1 },
  secondComponentProbability: { kind: 'number', min: 0, max: 1 },
  secondComponentScale: { kind: 'range', min: 0.1, max: 1 },
  secondComponentGap: { kind: 'range', min: 0.1, max: 3 },
  holeProbability: { kind: 'number', min: 0, max: 1 },
  holeScale: { kind: 'range', min: 0.05, max: 0.5 },
  bloodIntensity: { kind: 'range', min: 1, max: 255 },
  darkTargetProbability: { kind: 'number', min: 0, max: 1 },
  darkBloodRatio: { kind: 'range', min: 0.05, max: 0.95 },
  tissueIntensity: { kind: 'range', min: 0, max: 254 },
  wallBoost: { kind: 'range', min: 0, max: 100 },
  gain: { kind: 'range', min: 0.2, max: 3 },
  biasStrength: { kind: 'range', min: 0, max: 1.5 },
  noiseSigma: { kind: 'range', min: 0, max: 100 },
  distractors: { kind: 'range', min: 0, max: 10, integer: true },
  distractorDistance: { kind: 'range', min: 0.5, max: 5 },
  distractorRadiusXY: { kind: 'range', min: 0.01, max: 0.45 },
  distractorRadiusZ: { kind: 'range', min: 0.01, max: 1 },
  distractorIntensity: { kind: 'range', min: 0.1, max: 2 },
};

/** The knob names, in the order of `LaDifficulty`. */
export const LA_DIFFICULTY_KNOBS = Object.keys(LA_DIFFICULTY_RULES) as (keyof LaDifficulty)[];

/** A rule as the TSDoc and the docs state it: `0–1`, `integers 0–12`, `true or false`. */
export function describeKnobRule(rule: KnobRule): string {
  if (rule.kind === 'boolean') return 'true or false';
  const span = `${rule.min}–${rule.max}`;
  return rule.kind === 'range' && rule.integer ? `integers ${span}` : span;
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

function checkKnob(where: string, knob: keyof LaDifficulty, value: unknown): void {
  const rule = LA_DIFFICULTY_RULES[knob];
  const name = `difficulty.${knob}`;
  const allowed = describeKnobRule(rule);
  if (rule.kind === 'boolean') {
    if (typeof value !== 'boolean')
      throw new InputError(`${where}: ${name} must be ${allowed}, got ${show(value)}`);
    return;
  }
  const inRange = (v: unknown): v is number =>
    typeof v === 'number' &&
    Number.isFinite(v) &&
    v >= rule.min &&
    v <= rule.max &&
    (rule.kind !== 'range' || !rule.integer || Number.isInteger(v));
  if (rule.kind === 'number') {
    if (!inRange(value))
      throw new InputError(`${where}: ${name} must be a number ${allowed}, got ${show(value)}`);
    return;
  }
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    !inRange(value[0]) ||
    !inRange(value[1]) ||
    value[0] > value[1]
  ) {
    throw new InputError(
      `${where}: ${name} must be a range [low, high] of ${rule.integer ? '' : 'numbers '}${allowed} with low ≤ high, got ${show(value)}`,
    );
  }
}

/**
 * The complete knob set that `difficulty` asks for: a preset name, or overrides merged onto `preset` (default
 * `standard`). Every knob is checked; a bad one is an InputError naming it (`difficulty.noiseSigma`), prefixed
 * by `where` (e.g. `synth la`).
 */
export function resolveLaDifficulty(
  difficulty: SynthDifficulty | undefined,
  where = 'synth la',
): LaDifficulty {
  if (difficulty === undefined) return { ...LA_DIFFICULTY_PRESETS.standard };
  if (typeof difficulty === 'string') {
    if (!isLaDifficultyPreset(difficulty)) {
      throw new InputError(
        `${where}: difficulty must be ${LA_DIFFICULTY_PRESET_LIST} or an object of knobs, got ${show(difficulty)}`,
      );
    }
    return { ...LA_DIFFICULTY_PRESETS[difficulty] };
  }
  if (!isRecord(difficulty)) {
    throw new InputError(
      `${where}: difficulty must be ${LA_DIFFICULTY_PRESET_LIST} or an object of knobs, got ${show(difficulty)}`,
    );
  }
  const { preset = 'standard', ...overrides } = difficulty;
  if (!isLaDifficultyPreset(preset)) {
    throw new InputError(
      `${where}: difficulty.preset must be ${LA_DIFFICULTY_PRESET_LIST}, got ${show(preset)}`,
    );
  }
  for (const key of Object.keys(overrides)) {
    if (!Object.hasOwn(LA_DIFFICULTY_RULES, key)) {
      throw new InputError(
        `${where}: difficulty.${key} is not a knob (expected preset or one of ${LA_DIFFICULTY_KNOBS.join(', ')})`,
      );
    }
  }
  // A knob given as undefined is absent, as for any optional field.
  const given = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const merged = { ...LA_DIFFICULTY_PRESETS[preset], ...given } as LaDifficulty;
  for (const knob of LA_DIFFICULTY_KNOBS) checkKnob(where, knob, merged[knob]);
  if (merged.tissueIntensity[1] >= merged.bloodIntensity[0]) {
    throw new InputError(
      `${where}: difficulty.tissueIntensity must stay below difficulty.bloodIntensity (high ${merged.tissueIntensity[1]} ≥ low ${merged.bloodIntensity[0]})`,
    );
  }
  return merged;
}
