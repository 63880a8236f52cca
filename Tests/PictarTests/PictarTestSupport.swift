import NeoTensor
import Pictar

/// A procedurally drawn 64-px "face": a vertical colour gradient, a bright disk with two dark
/// eyes and a mouth bar, centred at (cx, cy) pixels. [1, 3, size, size] in [0, 1].
func drawnFace(size: Int = 64, cx: Double, cy: Double) -> Tensor {
    var v = [Float](repeating: 0, count: 3 * size * size)
    let r = Double(size) * 0.28
    for y in 0..<size {
        for x in 0..<size {
            let fx = Double(x) + 0.5, fy = Double(y) + 0.5
            var rgb = [0.2 + 0.5 * fy / Double(size), 0.3, 0.6 - 0.4 * fy / Double(size)]
            let d = ((fx - cx) * (fx - cx) + (fy - cy) * (fy - cy)).squareRoot()
            if d < r { rgb = [0.9, 0.75, 0.6] }
            for ex in [-0.4, 0.4] {
                let ddx = fx - (cx + ex * r), ddy = fy - (cy - 0.3 * r)
                if ddx * ddx + ddy * ddy < r * r * 0.03 { rgb = [0.1, 0.1, 0.2] }
            }
            if abs(fy - (cy + 0.45 * r)) < r * 0.08 && abs(fx - cx) < r * 0.45 { rgb = [0.6, 0.2, 0.2] }
            for c in 0..<3 { v[(c * size + y) * size + x] = Float(rgb[c]) }
        }
    }
    return Tensor(v, shape: [1, 3, size, size])
}

/// A plausible ground-truth motion [n, 70] (`MotionLayout.plausible`).
func sampleMotion(_ n: Int, seed: UInt64) -> Tensor { MotionLayout.plausible(count: n, generator: Generator(seed: seed)) }
