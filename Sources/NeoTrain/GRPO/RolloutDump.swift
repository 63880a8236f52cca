import Foundation
import KineticGRPO
import NeoIO
import NeoTensor

/// Writes every recorded quantity of one GRPO rollout to an HDF5 file; the layout is described
/// in docs/grpo-rollout-dump.md (C clips, G candidates, K steps, N frames, D latent width).
public enum RolloutDump {
    public static let formatName = "neo-train-grpo-rollout"
    public static let formatVersion: Int64 = 1

    /// Writes `rollout` (recorded with every step, `recordAll`) to `path`, atomically.
    public static func write(_ rollout: GRPORollout, to path: String, recipe: String = "") throws {
        let groups = rollout.groups
        guard let first = groups.first else { throw TrainError("\(path): the rollout holds no groups to dump") }
        let settings = rollout.settings
        let kSteps = settings.steps, g = settings.groupSize
        let n = first.final.shape[1], d = first.final.shape[2], row = n * d
        for group in groups where group.steps.map(\.k) != Array(0..<kSteps) {
            throw TrainError("\(path): clip \(group.clip) was rolled out without recording every step (recordAll)")
        }
        let c = groups.count
        var x = [Float](repeating: 0, count: c * g * (kSteps + 1) * row)
        var xi = [Float](repeating: 0, count: c * g * kSteps * row)
        var mu = [Float](repeating: 0, count: c * g * kSteps * row)
        var logProb = [Double](repeating: .nan, count: c * g * kSteps)
        for (ci, group) in groups.enumerated() {
            for (k, step) in group.steps.enumerated() {
                let xs = step.x.contiguous().toArray(), zs = step.xi.contiguous().toArray(), ms = step.mu.contiguous().toArray()
                for j in 0..<g {
                    let source = (j * row)..<((j + 1) * row)
                    let xAt = ((ci * g + j) * (kSteps + 1) + k) * row
                    let sAt = ((ci * g + j) * kSteps + k) * row
                    x.replaceSubrange(xAt..<(xAt + row), with: xs[source])
                    xi.replaceSubrange(sAt..<(sAt + row), with: zs[source])
                    mu.replaceSubrange(sAt..<(sAt + row), with: ms[source])
                    if step.isSDE {
                        logProb[(ci * g + j) * kSteps + k] = PolicyStep.gaussianLogDensity(xi: Array(zs[source]), s: step.s)
                    }
                }
            }
            let fs = group.final.contiguous().toArray()
            for j in 0..<g {
                let at = ((ci * g + j) * (kSteps + 1) + kSteps) * row
                x.replaceSubrange(at..<(at + row), with: fs[(j * row)..<((j + 1) * row)])
            }
        }
        let steps = first.steps
        let tmp = AtomicFile.temporaryPath(for: path)
        unlink(tmp)
        do {
            let file = try HDF5File.create(tmp)
            try file.writeFloat32(rollout.grid, shape: [kSteps + 1], at: "/t")
            try file.writeFloat32(steps.map(\.s), shape: [kSteps], at: "/s")
            try file.writeUInt8(steps.map { $0.isSDE ? 1 : 0 }, shape: [kSteps], at: "/sde")
            try file.writeInt64(groups.map { Int64($0.clip) }, shape: [c], at: "/clip_index")
            try file.writeFloat32(x, shape: [c, g, kSteps + 1, n, d], at: "/x")
            try file.writeFloat32(xi, shape: [c, g, kSteps, n, d], at: "/xi")
            try file.writeFloat32(mu, shape: [c, g, kSteps, n, d], at: "/mu")
            try file.writeFloat64(logProb, shape: [c, g, kSteps], at: "/log_prob_old")
            try file.writeFloat32(groups.flatMap(\.rewards), shape: [c, g], at: "/rewards")
            try file.writeFloat32(groups.flatMap(\.advantages.values), shape: [c, g], at: "/advantages")
            try file.writeUInt8(groups.map { $0.isDropped ? 1 : 0 }, shape: [c], at: "/dropped")
            if !recipe.isEmpty { try file.writeString(recipe, at: "/recipe") }
            let attributes: [(String, HDF5Attribute)] = [
                ("format", .string(formatName)), ("version", .int64(formatVersion)),
                ("noise_level", .double(settings.noiseLevel)), ("sde_kind", .string(settings.sdeKind.rawValue)),
                ("steps", .int64(Int64(kSteps))), ("shift", .double(settings.shift)),
                ("group_size", .int64(Int64(g))), ("clips", .int64(Int64(c))),
                ("window_start", .int64(Int64(settings.windowStart))), ("window_size", .int64(Int64(settings.windowSize))),
                ("clip_range", .double(settings.clipRange)), ("beta", .double(settings.beta)),
                ("advantage_clip", .double(settings.advantageClip)),
                ("shared_noise", .int64(settings.sharedInitialNoise ? 1 : 0)),
                ("cfg", .doubles([settings.guidance.audio, settings.guidance.identity, settings.guidance.reference])),
                ("iteration", .int64(Int64(rollout.iteration))), ("seed", .int64(Int64(bitPattern: rollout.seed))),
                ("frames", .int64(Int64(n))), ("latent_dim", .int64(Int64(d))), ("dimension", .int64(Int64(row))),
            ]
            for (name, value) in attributes { try file.setAttribute(name, value) }
            try file.close()
        } catch {
            unlink(tmp)
            throw TrainError("\(path): cannot write the rollout dump: \(error)")
        }
        try AtomicFile.commit(temporary: tmp, to: path)
    }
}
