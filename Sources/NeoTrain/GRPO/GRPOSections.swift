import Foundation
import KineticGRPO
import RewardModel
import Vocal

/// `[policy]` of a GRPO recipe: the VOCAL checkpoint to start from (also the frozen reference).
public struct GRPOPolicySection: RecipeSection {
    public static let name = "policy"
    public static let summary = "the VOCAL checkpoint GRPO starts from (and anchors to)"
    public enum Weights: String, CaseIterable, Sendable { case model, ema }
    public var checkpoint = ""
    public var weights = Weights.model
    public var gradientCheckpointing = false
    public init() {}
    public static var fields: [RecipeField<Self>] {[
        .text("checkpoint", \.checkpoint, nonEmpty: true, "VOCAL checkpoint (.h5): the starting policy and the KL reference", required: true),
        .choice("weights", \.weights, "which weights of the checkpoint to start from: the raw model or its EMA"),
        .flag("gradient_checkpointing", \.gradientCheckpointing, "recompute each block in the replay's backward (less memory, same numbers)"),
    ]}
}

/// `[reward]`: what scores the final motion of each candidate.
public struct GRPORewardSection: RecipeSection {
    public static let name = "reward"
    public static let summary = "the reward of the final motion"
    public enum Kind: String, CaseIterable, Sendable {
        /// −mean (x − target)² over every number (a toy with a known optimum).
        case target
        /// Mean lip opening of the synthetic-corpus layout (a toy a policy can hack).
        case lipOpening = "lip-opening"
        /// A trained reward model (`neo-train reward train`): `checkpoint`, `head`.
        case model
    }
    public enum Geometry: String, CaseIterable, Sendable { case synthetic, liveportrait }
    public var kind = Kind.target
    public var checkpoint = ""
    public var head = RewardHead.overall
    public var target = 0.0
    public var latentDim = 0
    public var geometry = Geometry.synthetic
    public init() {}
    public static var fields: [RecipeField<Self>] {[
        .choice("kind", \.kind, "model: a trained reward model; target: −mean (x − target)²; lip-opening: mean lip opening"),
        .text("checkpoint", \.checkpoint, "reward-model checkpoint (kind = \"model\"; its EMA weights when it has them)"),
        .choice("head", \.head, "which score of the reward model is the reward (kind = \"model\")"),
        .number("target", \.target, .any, "the value every latent number is pulled toward (kind = \"target\")"),
        .integer("latent_dim", \.latentDim, .atLeast(0),
                 "latent width the reward is built for (0: any for target; 70 for lip-opening when 0)"),
        .choice("geometry", \.geometry, "lip keypoints of kind = \"lip-opening\""),
    ]}

    public func check() throws(RecipeSectionCheck) {
        if kind == .model && checkpoint.isEmpty {
            throw RecipeSectionCheck(key: "checkpoint", "required when kind = \"model\" (a reward-model checkpoint)")
        }
        if kind == .model && latentDim != 0 {
            throw RecipeSectionCheck(key: "latent_dim", "the reward model's checkpoint fixes its latent width; leave latent_dim at 0")
        }
    }
}

/// `[data]` of a GRPO recipe: the clips rolled out.
public struct GRPODataSection: RecipeSection {
    public static let name = "data"
    public static let summary = "the clips GRPO rolls out and evaluates on"
    public enum Source: String, CaseIterable, Sendable {
        /// Seeded random audio features, identity clips, emotions and reference frames.
        case synthetic
        /// Windows of a NeoData dataset folder (`path`) with cached audio features: training
        /// identities for rollouts, held-out identities (`eval_split`) for evaluation.
        case dataset
    }
    public enum EvalSplit: String, CaseIterable, Sendable { case validation, test }
    public var source = Source.synthetic
    public var path = ""
    public var evalSplit = EvalSplit.test
    public var trainClips = 64
    public var evalClips = 8
    public var frames = 0
    public var referenceFrames = 100
    public var validationIdentities = 2
    public var testIdentities = 2
    public init() {}
    public static var fields: [RecipeField<Self>] {[
        .choice("source", \.source, "where clips come from: synthetic (seeded random conditions) or dataset (a NeoData folder)"),
        .text("path", \.path, "dataset folder with cached audio features (source = \"dataset\")"),
        .choice("eval_split", \.evalSplit, "held-out identities evaluated on (source = \"dataset\"): VOCAL's test or validation split"),
        .integer("train_clips", \.trainClips, .atLeast(0), "clips in the training pool (synthetic: ≥ 1; dataset: windows kept, 0 = all)"),
        .integer("eval_clips", \.evalClips, .atLeast(0), "held-out clips for the evaluation metrics (dataset: evenly spaced windows, 0 = all)"),
        .integer("frames", \.frames, .atLeast(0), "motion frames per clip; 0: the policy's window_frames"),
        .integer("reference_frames", \.referenceFrames, .atLeast(1),
                 "identity reference frames, when the policy carries no pretraining recipe (else the recipe's)"),
        .integer("validation_identities", \.validationIdentities, .atLeast(0),
                 "held-out validation identities, when the policy carries no pretraining recipe (else the recipe's)"),
        .integer("test_identities", \.testIdentities, .atLeast(0),
                 "held-out test identities, when the policy carries no pretraining recipe (else the recipe's)"),
    ]}

    public func check() throws(RecipeSectionCheck) {
        if source == .synthetic && trainClips < 1 {
            throw RecipeSectionCheck(key: "train_clips", "must be ≥ 1 for source = \"synthetic\"")
        }
        if source == .dataset && path.isEmpty {
            throw RecipeSectionCheck(key: "path", "required when source = \"dataset\" (a NeoData folder with cached audio features)")
        }
    }
}

/// `[grpo]`: the algorithm's knobs (see `GRPOSettings`).
public struct GRPOSection: RecipeSection {
    public static let name = "grpo"
    public static let summary = "Kinetic-GRPO: groups, sampling, SDE window, clipped objective, KL anchor"
    public var settings = GRPOSettings()
    public var evalCandidates = 2
    public init() {}
    public static var fields: [RecipeField<Self>] {[
        .integer("group_size", \.settings.groupSize, .atLeast(2), "candidates per clip (advantages are relative to the group)"),
        .integer("clips_per_iteration", \.settings.clipsPerIteration, .atLeast(1), "clips (groups) per rollout"),
        .integer("steps", \.settings.steps, .atLeast(2), "sampling steps of the time grid"),
        .number("shift", \.settings.shift, .positive, "grid shift S (t = S·u/(1 + (S−1)·u))"),
        .number("noise_level", \.settings.noiseLevel, .positive, "a of the SDE steps"),
        .choice("sde_kind", \.settings.sdeKind, "flow: the SDE of docs/architecture.md §6; cps: coefficients-preserving"),
        .integer("window_start", \.settings.windowStart, .atLeast(0), "first SDE (trained) step"),
        .integer("window_size", \.settings.windowSize, .atLeast(1), "SDE (trained) steps; the rest are ODE steps"),
        .number("clip_range", \.settings.clipRange, NumberRule("a number in (0, 1)") { $0 > 0 && $0 < 1 }, "ε: ratios clipped to [1 − ε, 1 + ε]"),
        .number("beta", \.settings.beta, .nonNegative, "weight of the mean-position KL (per dimension)"),
        .number("advantage_clip", \.settings.advantageClip, .positive, "advantages clipped to [−c, c]"),
        .flag("shared_noise", \.settings.sharedInitialNoise, "candidates of a clip share their initial noise"),
        .integer("replay_batch", \.settings.replayBatch, .atLeast(1), "candidates per replay forward/backward (≤ group_size)"),
        .integer("updates_per_rollout", \.settings.updatesPerRollout, .atLeast(1), "optimiser steps per rollout"),
        .number("cfg_audio", \.settings.guidance.audio, .any, "audio guidance weight"),
        .number("cfg_identity", \.settings.guidance.identity, .any, "identity guidance weight"),
        .number("cfg_reference", \.settings.guidance.reference, .any, "reference guidance weight"),
        .integer("eval_candidates", \.evalCandidates, .atLeast(1), "ODE samples per held-out clip in evaluations"),
    ]}

    public func check() throws(RecipeSectionCheck) {
        do throws(GRPOError) { try settings.validate() } catch { throw RecipeSectionCheck(error) }
    }
}

/// `[train]` of a GRPO recipe: iterations and the run's rhythm.
public struct GRPOTrainSection: RecipeSection {
    public static let name = "train"
    public static let summary = "iterations, evaluation, checkpoints, EMA"
    public var iterations = 100
    public var evalEvery = 10
    public var checkpointEvery = 10
    public var keepLast = 3
    public var ema = 0.0
    public var logEvery = 1
    public init() {}
    public static var fields: [RecipeField<Self>] {[
        .integer("iterations", \.iterations, .atLeast(1), "GRPO iterations (rollout + updates)"),
        .integer("eval_every", \.evalEvery, .atLeast(0), "held-out reward every N iterations (and at 0 and the end); 0 never"),
        .integer("checkpoint_every", \.checkpointEvery, .atLeast(0), "checkpoint every N iterations; 0 only at the end"),
        .integer("keep_last", \.keepLast, .atLeast(1), "checkpoints kept (plus the best by held-out reward)"),
        .number("ema", \.ema, .unitHalfOpen, "EMA decay of the policy's parameters; 0 turns EMA off"),
        .integer("log_every", \.logEvery, .atLeast(1), "progress line every N iterations when not on a terminal"),
    ]}
}

extension Recipe {
    /// The sections of a GRPO recipe, in rendering order.
    public static let grpoSections: [SectionSchema] = [
        SectionSchema(RunSection.self), SectionSchema(GRPOPolicySection.self), SectionSchema(GRPORewardSection.self),
        SectionSchema(GRPODataSection.self), SectionSchema(GRPOSection.self), SectionSchema(OptimSection.self),
        SectionSchema(GRPOTrainSection.self),
    ]
}
