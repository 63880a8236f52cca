import Foundation
import NeoTensor

/// The losses of Pictar training, as functions of tensors (each differentiable in its inputs).
public enum PictarLoss {
    /// Normalised 1-D Gaussian of `size` taps and standard deviation `sigma`.
    public static func gaussian(size: Int, sigma: Double) -> [Float] {
        let c = Double(size - 1) / 2
        let g = (0..<size).map { exp(-pow(Double($0) - c, 2) / (2 * sigma * sigma)) }
        let s = g.reduce(0, +)
        return g.map { Float($0 / s) }
    }

    /// SSIM of images a and b [N, C, H, W] with values in [0, 1]: the mean over all valid
    /// positions of ((2μaμb + C1)(2σab + C2)) / ((μa² + μb² + C1)(σa² + σb² + C2)), local
    /// statistics under an 11-tap Gaussian window (σ 1.5; narrower on images smaller than 11),
    /// C1 = 0.01², C2 = 0.03², no padding. The window runs as a depthwise convolution.
    public static func ssim(_ a: Tensor, _ b: Tensor) -> Tensor {
        ensure(a.rank == 4 && a.shape == b.shape, "ssim: images must be equal [N, C, H, W], got \(a.shape) and \(b.shape)")
        let c = a.shape[1]
        var size = Swift.min(11, a.shape[2], a.shape[3])
        if size % 2 == 0 { size -= 1 }
        let g = gaussian(size: size, sigma: 1.5)
        var w2 = [Float](repeating: 0, count: size * size)
        for i in 0..<size { for j in 0..<size { w2[i * size + j] = g[i] * g[j] } }
        let weight = Tensor(Array([[Float]](repeating: w2, count: c).joined()), shape: [c, 1, size, size])
        func blur(_ x: Tensor) -> Tensor { conv2d(x, weight: weight, bias: nil, groups: c) }
        let c1: Float = 0.01 * 0.01, c2: Float = 0.03 * 0.03
        let ma = blur(a), mb = blur(b)
        let maa = ma * ma, mbb = mb * mb, mab = ma * mb
        let va = blur(a * a) - maa, vb = blur(b * b) - mbb, cov = blur(a * b) - mab
        let map = ((mab * 2 + c1) * (cov * 2 + c2)) / ((maa + mbb + c1) * (va + vb + c2))
        return map.mean()
    }

    /// Multi-scale SSIM as the mean of `ssim` over `scales` scales, each a 2×2 average-pooled
    /// copy of the one before (the mean, rather than MS-SSIM's weighted product of contrast
    /// terms, stays defined when a term is negative).
    public static func multiScaleSSIM(_ a: Tensor, _ b: Tensor, scales: Int) -> Tensor {
        var x = a, y = b
        var total = ssim(x, y)
        for _ in 1..<Swift.max(scales, 1) {
            guard x.shape[2] >= 2, x.shape[3] >= 2 else { break }
            x = avgPool2d(x, kernel: [2, 2]); y = avgPool2d(y, kernel: [2, 2])
            total = total + ssim(x, y)
        }
        return total * (1 / Float(Swift.max(scales, 1)))
    }

    /// Image-gradient loss: L1 between the horizontal differences of a and b plus L1 between
    /// their vertical differences ([N, C, H, W]).
    public static func imageGradient(_ a: Tensor, _ b: Tensor) -> Tensor {
        func dx(_ t: Tensor) -> Tensor { t.slice(dim: 3, start: 1, end: t.shape[3]) - t.slice(dim: 3, start: 0, end: t.shape[3] - 1) }
        func dy(_ t: Tensor) -> Tensor { t.slice(dim: 2, start: 1, end: t.shape[2]) - t.slice(dim: 2, start: 0, end: t.shape[2] - 1) }
        return l1Loss(dx(a), dx(b)) + l1Loss(dy(a), dy(b))
    }

    /// Hinge loss of the discriminator: mean(relu(1 − real)) + mean(relu(1 + fake)).
    public static func discriminatorHinge(real: Tensor, fake: Tensor) -> Tensor {
        (1 - real).relu().mean() + (fake + 1).relu().mean()
    }

    /// Hinge loss of the generator: −mean(D(fake)).
    public static func generatorHinge(fake: Tensor) -> Tensor { -fake.mean() }

    /// Feature matching: the sum over layers of L1 between the discriminator's features of the
    /// rendered frame and (fixed) features of the real one.
    public static func featureMatching(real: [Tensor], fake: [Tensor]) -> Tensor {
        ensure(real.count == fake.count && !real.isEmpty, "featureMatching: \(real.count) real and \(fake.count) fake feature maps")
        var total = l1Loss(fake[0], real[0].detach())
        for i in 1..<real.count { total = total + l1Loss(fake[i], real[i].detach()) }
        return total
    }

    /// Keypoint-separation prior: Σ over ordered pairs i ≠ j of relu(distance − |x_i − x_j|²),
    /// averaged over the batch (keypoints [N, K, 3]). Pushes apart keypoints that collapse.
    public static func keypointSeparation(_ kp: Tensor, distance: Float) -> Tensor {
        let n = kp.shape[0], k = kp.shape[1]
        let d2 = (kp.unsqueeze(2) - kp.unsqueeze(1)).square().sum(axes: [-1])
        var off = [Float](repeating: 1, count: k * k)
        for i in 0..<k { off[i * k + i] = 0 }
        return ((distance - d2).relu() * Tensor(off, shape: [k, k])).sum() * (1 / Float(Swift.max(n, 1)))
    }

    /// Deformation prior: mean |δ| of the expression offsets.
    public static func deformationPrior(_ expression: Tensor) -> Tensor { expression.abs().mean() }

    /// Equivariance: keypoints found in a transformed image, mapped back through the transform,
    /// must be the keypoints of the image. `transformed` holds the keypoints [N, K, 3] of
    /// image(A·p + b); `original` those of the image; the loss is L1 over x and y between
    /// A·x' + b and x. `affine` is [N, 2, 3] ([A | b] per sample).
    public static func equivariance(original: Tensor, transformed: Tensor, affine: Tensor) -> Tensor {
        let a = affine.slice(dim: 2, start: 0, end: 2), b = affine.slice(dim: 2, start: 2, end: 3)
        let xy = transformed.slice(dim: 2, start: 0, end: 2)
        let mapped = xy.matmul(a.transpose(1, 2)) + b.transpose(1, 2)
        return l1Loss(mapped, original.slice(dim: 2, start: 0, end: 2))
    }

    /// Random similarity transforms [N, 2, 3] (rotation within ±rotation degrees, scale within
    /// 1 ± scale, shift within ±shift) and the grid [N, H, W, 2] that samples image(A·p + b).
    public static func randomSimilarity(count n: Int, height: Int, width: Int, shift: Double, rotation: Double,
                                        scale: Double, generator: Generator) -> (affine: Tensor, grid: Tensor) {
        var aff = [Float](), grid = [Float]()
        aff.reserveCapacity(n * 6); grid.reserveCapacity(n * height * width * 2)
        for _ in 0..<n {
            let theta = (generator.nextUniform() * 2 - 1) * rotation * Double.pi / 180
            let s = 1 + (generator.nextUniform() * 2 - 1) * scale
            let tx = (generator.nextUniform() * 2 - 1) * shift, ty = (generator.nextUniform() * 2 - 1) * shift
            let m = [s * cos(theta), -s * sin(theta), tx, s * sin(theta), s * cos(theta), ty]
            aff += m.map(Float.init)
            for h in 0..<height {
                let y = Double(2 * h + 1) / Double(height) - 1
                for w in 0..<width {
                    let x = Double(2 * w + 1) / Double(width) - 1
                    grid.append(Float(m[0] * x + m[1] * y + m[2]))
                    grid.append(Float(m[3] * x + m[4] * y + m[5]))
                }
            }
        }
        return (Tensor(aff, shape: [n, 2, 3]), Tensor(grid, shape: [n, height, width, 2]))
    }
}
