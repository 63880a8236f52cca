import Foundation
import NeoNN
import NeoTensor
import Vocal

/// What the replays of one trained step k did over one pass through a rollout.
public struct ReplayStepStats: Sendable {
    public let k: Int
    /// log ρ of every replayed candidate (summed over its D numbers), in replay order.
    public internal(set) var logRatios: [Float] = []
    /// ρ̄ = exp(log ρ / D) of every replayed candidate (the ratio the objective clips).
    public internal(set) var ratios: [Float] = []
    /// KL_k / D of every replayed candidate.
    public internal(set) var klPerDimension: [Float] = []
    /// Candidates whose ρ̄ lies outside [1 − ε, 1 + ε].
    public internal(set) var clipped = 0
    /// Forward/backward passes of this step and their total wall time.
    public internal(set) var replays = 0
    public internal(set) var seconds = 0.0
    /// The largest VmRSS seen right after a replay of this step (nil off Linux).
    public internal(set) var residentBytes: Int?
    /// The largest engine-pool peak (`peakBytesInUse`) during a replay of this step.
    public internal(set) var poolPeakBytes = 0

    public init(k: Int) { self.k = k }

    public var ratioMean: Double { ratios.isEmpty ? 1 : ratios.reduce(0.0) { $0 + Double($1) } / Double(ratios.count) }
    public var ratioMin: Float { ratios.min() ?? 1 }
    public var ratioMax: Float { ratios.max() ?? 1 }
    public var klMean: Double { klPerDimension.isEmpty ? 0 : klPerDimension.reduce(0.0) { $0 + Double($1) } / Double(klPerDimension.count) }
    public var clipFraction: Double { ratios.isEmpty ? 0 : Double(clipped) / Double(ratios.count) }
    public var millisecondsPerReplay: Double { replays == 0 ? 0 : 1000 * seconds / Double(replays) }
}

/// One pass of replays over a rollout: per trained step statistics and the mean loss.
public struct ReplayPass: Sendable {
    public let steps: [ReplayStepStats]
    /// Candidates replayed (those of groups that were not dropped) and their trained steps.
    public let candidates: Int
    /// Mean over (candidate, trained step) of the loss, and of its policy and KL parts.
    public let loss: Double
    public let policyLoss: Double
    public let klLoss: Double

    public var clipFraction: Double {
        let n = steps.reduce(0) { $0 + $1.ratios.count }
        return n == 0 ? 0 : Double(steps.reduce(0) { $0 + $1.clipped }) / Double(n)
    }
}

/// Replays a rollout one (chunk of candidates, trained step) at a time with the tape and
/// back-propagates each loss at once, so memory holds one forward/backward whatever the
/// number of steps. Per (candidate j, step k), with D the numbers per candidate:
///
///     d = μ_θ(x_k) − μ_old,  log ρ = (ξ·d)/s_k − ‖d‖²/(2 s_k²),  ρ̄ = exp(log ρ / D)
///     KL_k = ‖μ_θ − μ_ref‖²/(2 s_k²)
///     loss = max(−A_j·ρ̄, −A_j·clip(ρ̄, 1 − ε, 1 + ε)) + β·KL_k / D
///
/// and the gradients of the mean loss over (candidate, trained step) accumulate into the
/// policy's parameters (the caller steps the optimiser). μ_ref comes from the frozen reference
/// model without a tape and is cached in the rollout for later passes.
public struct GRPOReplayer {
    public let policy: VocalModel
    public let reference: VocalModel
    public let settings: GRPOSettings

    public init(policy: VocalModel, reference: VocalModel, settings: GRPOSettings) {
        self.policy = policy
        self.reference = reference
        self.settings = settings
    }

    /// One pass over the rollout. With `backward` false the losses are only evaluated (no
    /// gradients are accumulated).
    public func replay(_ rollout: GRPORollout, backward: Bool = true) throws -> ReplayPass {
        try settings.validate()
        let trained = Array(settings.window)
        let kept = rollout.groups.filter { !$0.isDropped }
        for group in kept {
            for k in trained where group.step(k) == nil {
                throw GRPOError("rollout of clip \(group.clip) holds no record of trained step \(k)")
            }
        }
        let candidates = kept.reduce(0) { $0 + $1.size }
        var stats = trained.map { ReplayStepStats(k: $0) }
        guard candidates > 0 else {
            return ReplayPass(steps: stats, candidates: 0, loss: 0, policyLoss: 0, klLoss: 0)
        }
        // Each (candidate, step) loss enters the mean with this weight.
        let weight = 1 / Float(candidates * trained.count)
        let eps = Float(settings.clipRange), beta = Float(settings.beta)
        let a = Float(settings.noiseLevel)
        let pool = EngineContext.current.pool
        var lossSum = 0.0, policySum = 0.0, klSum = 0.0

        for group in kept {
            let g = group.size
            let chunkSize = settings.replayBatch
            for (si, k) in trained.enumerated() {
                let record = group.step(k)!
                let dim = record.mu.count / g
                let muRef = referenceMean(group, record)
                var lo = 0
                while lo < g {
                    let hi = Swift.min(g, lo + chunkSize)
                    let start = DispatchTime.now().uptimeNanoseconds
                    pool.resetPeak()
                    let range = lo..<hi
                    let x = rows(record.x, range, g), xi = rows(record.xi, range, g)
                    let muOld = rows(record.mu, range, g), ref = rows(muRef, range, g)
                    let conditions = group.conditions.rows(range)
                    let advantages = Tensor(Array(group.advantages.values[range]), shape: [range.count])

                    let tape = Tape()
                    let parts = tape.record { () -> (loss: Tensor, logRatio: Tensor, ratio: Tensor, kl: Tensor, policy: Tensor) in
                        let v = GRPOSampler.velocity(model: policy, x: x, t: record.t, conditions: conditions, guidance: settings.guidance)
                        let mu = PolicyStep.mean(kind: settings.sdeKind, x: x, v: v, t: record.t, tNext: record.tNext, noiseLevel: a)
                        let logRatio = PolicyStep.logRatio(muTheta: mu, muOld: muOld, xi: xi, s: record.s)
                        let ratio = (logRatio * (1 / Float(dim))).exp()
                        let unclipped = -(advantages * ratio)
                        let clippedTerm = -(advantages * ratio.clamp(min: 1 - eps, max: 1 + eps))
                        let policyTerm = unclipped.maximum(clippedTerm)
                        let kl = PolicyStep.meanKL(muTheta: mu, muRef: ref, s: record.s)
                        let loss = (policyTerm + kl * (beta / Float(dim))).sum() * weight
                        return (loss, logRatio, ratio, kl, policyTerm)
                    }
                    if backward { tape.backward(parts.loss) }
                    let lossValue = Double(parts.loss.item)
                    guard lossValue.isFinite else {
                        throw GRPOError("replay of clip \(group.clip), step \(k), candidates \(lo)..<\(hi): loss is \(lossValue)")
                    }
                    let logRatios = parts.logRatio.toArray(), ratios = parts.ratio.toArray()
                    let kls = parts.kl.toArray().map { $0 / Float(dim) }
                    lossSum += lossValue
                    policySum += parts.policy.toArray().reduce(0.0) { $0 + Double($1) } * Double(weight)
                    klSum += kls.reduce(0.0) { $0 + Double($1) } * Double(beta) * Double(weight)
                    tape.release()

                    stats[si].logRatios += logRatios
                    stats[si].ratios += ratios
                    stats[si].klPerDimension += kls
                    stats[si].clipped += ratios.filter { $0 < 1 - eps || $0 > 1 + eps }.count
                    stats[si].replays += 1
                    stats[si].seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    stats[si].poolPeakBytes = Swift.max(stats[si].poolPeakBytes, pool.peakBytesInUse)
                    if let m = ProcessMemory.read() {
                        stats[si].residentBytes = Swift.max(stats[si].residentBytes ?? 0, m.resident)
                    }
                    lo = hi
                }
            }
        }
        return ReplayPass(steps: stats, candidates: candidates, loss: lossSum, policyLoss: policySum, klLoss: klSum)
    }

    /// μ_ref of the frozen reference at the recorded x_k (whole group at once, no tape; cached).
    func referenceMean(_ group: GRPOGroup, _ record: GRPOStepRecord) -> Tensor {
        if let cached = group.referenceMeans[record.k] { return cached }
        let mu = noGrad {
            let v = GRPOSampler.velocity(model: reference, x: record.x, t: record.t, conditions: group.conditions,
                                         guidance: settings.guidance)
            return PolicyStep.mean(kind: settings.sdeKind, x: record.x, v: v, t: record.t, tNext: record.tNext,
                                   noiseLevel: Float(settings.noiseLevel))
        }
        group.referenceMeans[record.k] = mu
        return mu
    }

    /// Rows `range` of a `[G, …]` tensor (the tensor itself for the whole group).
    func rows(_ t: Tensor, _ range: Range<Int>, _ g: Int) -> Tensor {
        range == 0..<g ? t : t.slice(dim: 0, start: range.lowerBound, end: range.upperBound).contiguous()
    }
}
