import XCTest
import NeoTensor
import NeoTestSupport

/// Grid sampling: gradients with respect to input and grid against central differences
/// (eps 1e-2, |Δ| ≤ 2e-3 + 2e-2·|numeric|) for both alignCorners values and both paddings,
/// plus exact values (identity grids, hand-computed samples).
final class GridSampleTests: XCTestCase {
    /// Normalised coordinates whose pixel positions sit 0.15…0.85 into a cell (so ±eps never
    /// crosses a cell edge or the border clamp, where the sampler has kinks), some of them
    /// outside the input.
    func grid(_ shape: [Int], sizes: [Int], alignCorners: Bool, seed: UInt64) -> Tensor {
        let g = Generator(seed: seed)
        let n = shape.reduce(1, *)
        var v = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let size = sizes[i % sizes.count]  // sizes in coordinate order (x, y, z)
            let cell = Float(g.nextInt(size + 3) - 2)
            let pixel = cell + 0.15 + 0.7 * Float(g.nextUniform())
            v[i] = alignCorners ? pixel * 2 / Float(size - 1) - 1 : (2 * pixel + 1) / Float(size) - 1
        }
        return Tensor(v, shape: shape)
    }

    func testGridSample2dGradients() {
        for align in [false, true] {
            for padding in [GridPadding.zeros, .border] {
                let input = randn([2, 3, 4, 5], seed: 1)
                let g = grid([2, 3, 4, 2], sizes: [5, 4], alignCorners: align, seed: 2)
                let r = gradCheck([input, g]) { gridSample2d($0[0], grid: $0[1], alignCorners: align, padding: padding) }
                XCTAssertTrue(r.passed, "gridSample2d align \(align) \(padding): \(r)")
            }
        }
    }

    func testGridSample3dGradients() {
        for align in [false, true] {
            for padding in [GridPadding.zeros, .border] {
                let input = randn([2, 2, 3, 4, 5], seed: 3)
                let g = grid([2, 2, 3, 2, 3], sizes: [5, 4, 3], alignCorners: align, seed: 4)
                let r = gradCheck([input, g]) { gridSample3d($0[0], grid: $0[1], alignCorners: align, padding: padding) }
                XCTAssertTrue(r.passed, "gridSample3d align \(align) \(padding): \(r)")
            }
        }
    }

    func testNonContiguousInputs() {
        let input = randn([1, 4, 3, 2], seed: 5).permute([0, 3, 2, 1])   // [1, 2, 3, 4]
        let g = grid([1, 2, 3, 2], sizes: [4, 3], alignCorners: false, seed: 6).permute([0, 2, 1, 3])  // [1, 3, 2, 2]
        XCTAssertFalse(input.isContiguous)
        XCTAssertFalse(g.isContiguous)
        let r = gradCheck([input, g]) { gridSample2d($0[0], grid: $0[1], alignCorners: false, padding: .zeros) }
        XCTAssertTrue(r.passed, r.description)
    }

    /// Sampling at the cell centres (alignCorners false) or corners (true) reproduces the input.
    func testIdentityGridReproducesInput() {
        let (d, h, w) = (3, 4, 5)
        let input = randn([2, 3, d, h, w], seed: 7)
        for align in [false, true] {
            func coord(_ i: Int, _ size: Int) -> Float {
                align ? Float(i) * 2 / Float(size - 1) - 1 : (2 * Float(i) + 1) / Float(size) - 1
            }
            var v: [Float] = []
            for _ in 0..<2 { for z in 0..<d { for y in 0..<h { for x in 0..<w { v += [coord(x, w), coord(y, h), coord(z, d)] } } } }
            let g3 = Tensor(v, shape: [2, d, h, w, 3])
            for padding in [GridPadding.zeros, .border] {
                XCTAssertLessThan(maxAbsoluteError(gridSample3d(input, grid: g3, alignCorners: align, padding: padding), input), 1e-5)
                let plane = input.slice(dim: 2, start: 1, end: 2).squeeze(2)
                let g2 = g3.slice(dim: 1, start: 0, end: 1).squeeze(1).slice(dim: 3, start: 0, end: 2)
                XCTAssertLessThan(maxAbsoluteError(gridSample2d(plane, grid: g2, alignCorners: align, padding: padding), plane), 1e-5)
            }
        }
    }

    /// Grids of several position blocks, split over threads, against the same grid sampled in
    /// slices of less than one block each: outputs and both gradients (relative to the largest
    /// value, ≤ 1e-5).
    func testLargeGridsMatchSlicedSampling() {
        for spatial in [2, 3] {
            let input = randn(spatial == 3 ? [2, 5, 4, 6, 7] : [2, 5, 6, 7], seed: 8)
            let sizes = spatial == 3 ? [7, 6, 4] : [7, 6]
            let gridShape = spatial == 3 ? [2, 4, 12, 20, 3] : [2, 24, 20, 2]
            let sliceSize = spatial == 3 ? 1 : 12
            let g = grid(gridShape, sizes: sizes, alignCorners: false, seed: 9)
            let sample: (Tensor, Tensor) -> Tensor = { x, gr in
                spatial == 3 ? gridSample3d(x, grid: gr, alignCorners: false, padding: .zeros)
                             : gridSample2d(x, grid: gr, alignCorners: false, padding: .zeros)
            }
            EngineContext(threads: 3).run {
                let xa = input.detach().requiringGrad(), ga = g.detach().requiringGrad()
                let tape = Tape()
                let y = tape.record { sample(xa, ga) }
                let upstream = randn(y.shape, seed: 10)
                tape.backward(y, gradient: upstream)

                let xb = input.detach().requiringGrad(), gb = g.detach().requiringGrad()
                let pieces = Tape()
                var outputs: [Tensor] = []
                let loss = pieces.record {
                    var total: Tensor? = nil
                    for s in stride(from: 0, to: gridShape[1], by: sliceSize) {
                        let part = sample(xb, gb.slice(dim: 1, start: s, end: s + sliceSize))
                        outputs.append(part.detach())
                        let term = (part * upstream.slice(dim: 2, start: s, end: s + sliceSize)).sum()
                        total = total.map { $0 + term } ?? term
                    }
                    return total!
                }
                pieces.backward(loss)
                for (i, s) in stride(from: 0, to: gridShape[1], by: sliceSize).enumerated() {
                    XCTAssertLessThan(maxAbsoluteError(y.slice(dim: 2, start: s, end: s + sliceSize), outputs[i]), 1e-5, "\(spatial)-d output slice \(i)")
                }
                let scale = { (t: Tensor) in Double(t.abs().max().item) }
                XCTAssertLessThan(maxAbsoluteError(xa.grad!, xb.grad!), 1e-5 * scale(xb.grad!), "\(spatial)-d input gradient")
                XCTAssertLessThan(maxAbsoluteError(ga.grad!, gb.grad!), 1e-5 * scale(gb.grad!), "\(spatial)-d grid gradient")
            }
        }
    }

    func testValuesByHand() {
        let input = Tensor([2, 6], shape: [1, 1, 1, 2])
        // alignCorners: x = 0 is halfway between the two pixels; x = 1.5 is at pixel 1.25.
        let g = Tensor([0, 0, 1.5, 0], shape: [1, 1, 2, 2])
        XCTAssertEqual(gridSample2d(input, grid: g, alignCorners: true, padding: .zeros).toArray(), [4, 4.5])
        XCTAssertEqual(gridSample2d(input, grid: g, alignCorners: true, padding: .border).toArray(), [4, 6])
        // Without alignCorners the single row spans y ∈ [−1, 1] and x = 0.5 is pixel 1 exactly.
        let g2 = Tensor([0.5, 0, -1, 0], shape: [1, 1, 2, 2])
        XCTAssertEqual(gridSample2d(input, grid: g2, alignCorners: false, padding: .zeros).toArray(), [6, 1])
    }
}
