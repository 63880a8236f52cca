/// Counter-based random generator (Philox4x32-10). Its whole state is (seed, counter), so it can
/// be saved into a checkpoint and restored exactly, and streams for different purposes are
/// independent by construction (different seeds) rather than by luck.
public struct RNGState: Sendable, Equatable, Codable {
    public var seed: UInt64
    public var counter: UInt64
    public init(seed: UInt64, counter: UInt64) { self.seed = seed; self.counter = counter }
}

public final class Generator: @unchecked Sendable {
    public private(set) var seed: UInt64
    /// Number of 128-bit Philox blocks consumed so far.
    public private(set) var counter: UInt64

    public init(seed: UInt64) { self.seed = seed; self.counter = 0 }

    public var state: RNGState {
        get { RNGState(seed: seed, counter: counter) }
        set { seed = newValue.seed; counter = newValue.counter }
    }

    /// A new generator whose stream is derived from this seed and `tags` (e.g. clip, candidate,
    /// iteration); does not advance this generator.
    public func derived(_ tags: UInt64...) -> Generator {
        var h = seed ^ 0x9E37_79B9_7F4A_7C15
        for t in tags { h = Generator.mix(h ^ t) }
        return Generator(seed: h)
    }

    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    static func philox(counter: UInt64, seed: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        var c0 = UInt32(truncatingIfNeeded: counter)
        var c1 = UInt32(truncatingIfNeeded: counter >> 32)
        var c2: UInt32 = 0
        var c3: UInt32 = 0
        var k0 = UInt32(truncatingIfNeeded: seed)
        var k1 = UInt32(truncatingIfNeeded: seed >> 32)
        for _ in 0..<10 {
            let p0 = UInt64(0xD251_1F53) &* UInt64(c0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            let hi0 = UInt32(truncatingIfNeeded: p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
            let hi1 = UInt32(truncatingIfNeeded: p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
            let n0 = hi1 ^ c1 ^ k0
            let n2 = hi0 ^ c3 ^ k1
            c0 = n0; c1 = lo1; c2 = n2; c3 = lo0
            k0 = k0 &+ 0x9E37_79B9
            k1 = k1 &+ 0xBB67_AE85
        }
        return (c0, c1, c2, c3)
    }

    @inline(__always)
    static func unit(_ x: UInt32) -> Float {
        // 24 random bits into [0, 1).
        Float(x >> 8) * (1.0 / 16_777_216.0)
    }

    /// Fills `count` floats uniform in [low, high).
    public func fillUniform(_ p: UnsafeMutablePointer<Float>, count: Int, low: Float = 0, high: Float = 1) {
        let scale = high - low
        var i = 0
        while i < count {
            let (a, b, c, d) = Generator.philox(counter: counter, seed: seed)
            counter &+= 1
            let vals = (a, b, c, d)
            withUnsafeBytes(of: vals) { raw in
                let u = raw.bindMemory(to: UInt32.self)
                var j = 0
                while j < 4 && i < count {
                    p[i] = low + scale * Generator.unit(u[j])
                    i &+= 1; j &+= 1
                }
            }
        }
    }

    /// Fills `count` floats from N(mean, std²) (Box–Muller on Philox output, computed in Double).
    public func fillNormal(_ p: UnsafeMutablePointer<Float>, count: Int, mean: Float = 0, std: Float = 1) {
        var i = 0
        while i < count {
            let (a, b, c, d) = Generator.philox(counter: counter, seed: seed)
            counter &+= 1
            let u1 = (Double(a) + 1.0) / 4_294_967_297.0
            let u2 = Double(b) / 4_294_967_296.0
            let u3 = (Double(c) + 1.0) / 4_294_967_297.0
            let u4 = Double(d) / 4_294_967_296.0
            let r1 = (-2.0 * _log(u1)).squareRoot(), r2 = (-2.0 * _log(u3)).squareRoot()
            let z0 = r1 * _cos(2.0 * .pi * u2), z1 = r1 * _sin(2.0 * .pi * u2)
            let z2 = r2 * _cos(2.0 * .pi * u4), z3 = r2 * _sin(2.0 * .pi * u4)
            let zs = (z0, z1, z2, z3)
            withUnsafeBytes(of: zs) { raw in
                let z = raw.bindMemory(to: Double.self)
                var j = 0
                while j < 4 && i < count {
                    p[i] = mean + std * Float(z[j])
                    i &+= 1; j &+= 1
                }
            }
        }
    }

    /// One uniform Double in [0, 1).
    public func nextUniform() -> Double {
        let (a, b, _, _) = Generator.philox(counter: counter, seed: seed)
        counter &+= 1
        let bits = (UInt64(a) << 21) | UInt64(b >> 11)
        return Double(bits) / 9_007_199_254_740_992.0
    }

    /// A uniform integer in 0..<bound.
    public func nextInt(_ bound: Int) -> Int {
        ensure(bound > 0, "Generator.nextInt: bound must be positive")
        return min(bound - 1, Int(nextUniform() * Double(bound)))
    }

    /// One standard normal Double.
    public func nextNormal() -> Double {
        let (a, b, _, _) = Generator.philox(counter: counter, seed: seed)
        counter &+= 1
        let u1 = (Double(a) + 1.0) / 4_294_967_297.0
        let u2 = Double(b) / 4_294_967_296.0
        return (-2.0 * _log(u1)).squareRoot() * _cos(2.0 * .pi * u2)
    }
}

@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Foundation.cos(x) }
@inline(__always) func _sin(_ x: Double) -> Double { Foundation.sin(x) }
import Foundation
