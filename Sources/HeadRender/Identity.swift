import Foundation
import NeoTensor

/// Everything that makes one rendered person, drawn from a seed: head shape (weights of the
/// mesh's shape targets), skin, hair, eyes, lighting, background and camera. Colours are linear RGB.
public struct HeadIdentity: Sendable, Equatable {
    public var seed: UInt64
    /// (shape target index, weight).
    public var shapeWeights: [ShapeWeight]
    public var skin: SIMD3<Float>
    public var lipTint: SIMD3<Float>
    public var blush: Float
    public var freckles: Float
    public var hair: SIMD3<Float>
    /// Hairline height above the brows (decimetres), how far down the back and sides the hair
    /// reaches, and its thickness off the scalp; 0 coverage is bald.
    public var hairline: Float
    public var hairCoverage: Float
    public var hairVolume: Float
    public var hairPart: Float
    public var brow: SIMD3<Float>
    public var browThickness: Float
    public var iris: SIMD3<Float>
    /// Unit vector toward the key light (camera space), its colour, fill and ambient strengths.
    public var lightDirection: SIMD3<Float>
    public var lightColour: SIMD3<Float>
    public var fill: Float
    public var ambient: Float
    public var backgroundTop: SIMD3<Float>
    public var backgroundBottom: SIMD3<Float>
    public var backgroundSpots: [SIMD4<Float>]
    /// Camera distance from the head pivot (decimetres), vertical field of view (radians), and
    /// a small offset of the head in the frame.
    public var cameraDistance: Float
    public var fieldOfView: Float
    public var frameOffset: SIMD2<Float>

    public struct ShapeWeight: Sendable, Equatable {
        public var target: Int
        public var weight: Float
    }

    /// The person of `seed` for `model`: the same seed gives the same person.
    public static func sample(seed: UInt64, model: HeadModel) -> HeadIdentity {
        let g = Generator(seed: seed).derived(0x4EAD)
        func u(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * Float(g.nextUniform()) }
        func pick<T>(_ xs: [T]) -> T { xs[g.nextInt(xs.count)] }
        let shapes = model.shapes

        // Macro body: ethnicity mixture × gender × age, plus muscle/weight (MakeHuman's scheme:
        // each macro target's weight is the product of its factors' weights).
        var w: [Int: Float] = [:]
        let ethnic = ["african", "asian", "caucasian"]
        var mix = ethnic.map { _ in -log(max(1e-6, Float(g.nextUniform()))) }
        let dominant = g.nextInt(3)
        mix[dominant] += u(0.5, 2.5)
        let total = mix.reduce(0, +)
        mix = mix.map { $0 / total }
        let male: Float = g.nextUniform() < 0.5 ? u(0.75, 1) : u(0, 0.25)
        let old = g.nextUniform() < 0.25 ? u(0.2, 0.7) : u(0, 0.1)
        for (e, ew) in zip(ethnic, mix) {
            for (gender, gw) in [("male", male), ("female", 1 - male)] {
                for (age, aw) in [("young", 1 - old), ("old", old)] {
                    if let t = shapes.find("\(e)-\(gender)-\(age)") { w[t, default: 0] += ew * gw * aw }
                }
            }
        }
        let muscle = pick(["minmuscle", "averagemuscle", "maxmuscle"]), weight = pick(["minweight", "averageweight", "maxweight"])
        for (gender, gw) in [("male", male), ("female", 1 - male)] {
            if let t = shapes.find("universal-\(gender)-young-\(muscle)-\(weight)") { w[t, default: 0] += gw }
        }
        // Local features: each with a small chance; left and right targets move together.
        for (t, name) in shapes.names.enumerated() {
            if name.hasPrefix("universal-") || name.hasSuffix("-young") || name.hasSuffix("-old") || name.hasPrefix("r-") { continue }
            guard g.nextUniform() < 0.14 else { continue }
            let v = u(0.2, 0.9)
            w[t, default: 0] += v
            if name.hasPrefix("l-"), let r = shapes.find("r-" + name.dropFirst(2)) { w[r, default: 0] += v }
        }
        let shapeWeights = w.keys.sorted().map { ShapeWeight(target: $0, weight: w[$0]!) }

        // Skin from a range of tones (the ethnicity mixture shifts the draw), with a sun tint.
        let tones: [SIMD3<Float>] = [[0.80, 0.60, 0.50], [0.70, 0.50, 0.40], [0.56, 0.37, 0.27], [0.40, 0.25, 0.16],
                                     [0.25, 0.15, 0.09], [0.14, 0.08, 0.05]]
        let darkness = min(0.999, max(0, 0.1 + 0.75 * mix[0] + 0.25 * mix[1] + u(-0.2, 0.25)))
        let pos = darkness * Float(tones.count - 1)
        let lo = Int(pos), f = pos - Float(lo)
        var skin = tones[lo] * (1 - f) + tones[min(tones.count - 1, lo + 1)] * f
        skin *= SIMD3(u(0.95, 1.05), u(0.95, 1.05), u(0.9, 1.05))
        let lipTint = SIMD3<Float>(u(0.75, 0.95), u(0.35, 0.5), u(0.4, 0.55))
        // Hair: natural colours; grey with age.
        let hairs: [SIMD3<Float>] = [[0.02, 0.015, 0.01], [0.06, 0.035, 0.02], [0.15, 0.08, 0.04], [0.35, 0.2, 0.08],
                                     [0.55, 0.38, 0.18], [0.45, 0.12, 0.04], [0.7, 0.68, 0.65]]
        // Mostly dark and brown, sometimes blond or red.
        let hairPick = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 4, 5][g.nextInt(12)]
        var hair = old > 0.4 ? hairs[6] : hairs[hairPick]
        hair *= u(0.8, 1.2)
        let bald = male > 0.5 && g.nextUniform() < 0.12
        let irises: [SIMD3<Float>] = [[0.12, 0.06, 0.02], [0.25, 0.13, 0.05], [0.18, 0.28, 0.45], [0.2, 0.3, 0.15],
                                      [0.3, 0.3, 0.32], [0.05, 0.03, 0.02]]
        let keyYaw = u(-0.9, 0.9), keyPitch = u(0.1, 0.8)
        let light = SIMD3<Float>(sin(keyYaw) * cos(keyPitch), sin(keyPitch), cos(keyYaw) * cos(keyPitch))
        let warm = u(-1, 1)
        var spots: [SIMD4<Float>] = []
        for _ in 0..<(2 + g.nextInt(4)) { spots.append(SIMD4(u(0, 1), u(0, 1), u(0.1, 0.45), u(-0.25, 0.25))) }
        let bgHue = SIMD3<Float>(u(0.05, 0.7), u(0.05, 0.7), u(0.05, 0.7))
        return HeadIdentity(
            seed: seed, shapeWeights: shapeWeights, skin: skin, lipTint: lipTint, blush: u(0, 0.25),
            freckles: g.nextUniform() < 0.2 ? u(0.3, 1) : 0, hair: hair,
            hairline: u(0.2, 0.5) + (male > 0.5 ? u(0, 0.15) : 0), hairCoverage: bald ? 0 : u(0.35, 1),
            hairVolume: bald ? 0 : u(0.03, 0.16), hairPart: u(-0.3, 0.3),
            brow: hair * 0.6 + SIMD3(repeating: 0.01), browThickness: u(0.6, 1.4), iris: pick(irises) * u(0.8, 1.25),
            lightDirection: light / (light * light).sum().squareRoot(),
            lightColour: SIMD3(1 + 0.08 * warm, 1, 1 - 0.12 * warm) * u(0.9, 1.2), fill: u(0.15, 0.45), ambient: u(0.18, 0.32),
            backgroundTop: bgHue * u(0.6, 1.2), backgroundBottom: SIMD3(u(0.05, 0.7), u(0.05, 0.7), u(0.05, 0.7)) * u(0.4, 1),
            backgroundSpots: spots, cameraDistance: u(8.5, 10.5), fieldOfView: u(0.2, 0.26),
            frameOffset: SIMD2(u(-0.04, 0.04), u(-0.04, 0.03)))
    }
}
