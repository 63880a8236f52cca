import XCTest
import Foundation
import NeoTensor
import NeoNN
import NeoTestSupport
import Pictar

/// The Pictar model at the tiny size (64 px): gradients reach every parameter, the warp is the
/// identity when the driving motion is the source motion and the flow head outputs zero, the
/// keypoint transform follows its formula, and the model overfits one pair.
final class PictarModelTests: XCTestCase {
    func batch() -> PictarBatch {
        let source = Tensor.concat([drawnFace(cx: 32, cy: 32), drawnFace(cx: 30, cy: 34)], dim: 0)
        let driving = Tensor.concat([drawnFace(cx: 36, cy: 30), drawnFace(cx: 28, cy: 35)], dim: 0)
        return PictarBatch(source: source, driving: driving, drivingMotion: sampleMotion(2, seed: 1), sourceMotion: sampleMotion(2, seed: 2))
    }

    func testEveryParameterReceivesAGradient() {
        let config = PictarConfig.tiny
        let model = PictarGenerator(config, generator: Generator(seed: 1))
        let disc = Discriminator(config, generator: Generator(seed: 2))
        let b = batch()
        let tape = Tape()
        let step = tape.record { model.generatorLoss(b, discriminator: disc, generator: Generator(seed: 3)) }
        XCTAssertTrue(step.loss.toArray()[0].isFinite)
        XCTAssertEqual(Set(step.terms.map(\.0)), ["l1", "ssim", "gradient", "gan", "feature_matching", "equivariance",
                                                   "separation", "deformation", "motion_driving", "motion_source"])
        tape.backward(step.loss)
        var smallest = (Float.infinity, "")
        for (path, p) in model.namedParameters() {
            let g = p.grad?.toArray() ?? []
            let largest = g.map(abs).max() ?? 0
            if largest < smallest.0 { smallest = (largest, path) }
            // Rounding noise (a parameter whose gradient is zero in exact arithmetic, e.g. a bias
            // before an instance norm) stays far below 1e-7 here.
            XCTAssertTrue(largest > 1e-7 && g.allSatisfy(\.isFinite), "generator parameter \(path): largest |gradient| \(largest)")
        }
        print("PictarModelTests: smallest largest-|gradient| of a generator parameter: \(smallest.0) at \(smallest.1)")
        disc.zeroGrad()
        let dTape = Tape()
        let dLoss = dTape.record { disc.loss(real: b.driving, fake: step.prediction) }
        dTape.backward(dLoss)
        for (path, p) in disc.namedParameters() where path != "head.bias" {
            let g = p.grad?.toArray() ?? []
            XCTAssertTrue((g.map(abs).max() ?? 0) > 1e-7 && g.allSatisfy(\.isFinite), "discriminator parameter \(path) got no (finite) gradient")
        }
        // The head's bias gets −(share of real patches inside the margin) + (share of fake ones),
        // which cancels exactly while every patch is inside: check that value instead.
        let (real, fake) = noGrad { (disc(b.driving).logits.toArray(), disc(step.prediction).logits.toArray()) }
        let expected = -Float(real.filter { $0 < 1 }.count) / Float(real.count) + Float(fake.filter { $0 > -1 }.count) / Float(fake.count)
        XCTAssertEqual(disc.head.bias!.grad!.toArray()[0], expected, accuracy: 1e-5)
        // From the generator's side it receives −weight_gan (the adversarial term is −mean D(fake)).
        disc.zeroGrad()
        let gTape = Tape()
        gTape.backward(gTape.record { PictarLoss.generatorHinge(fake: disc(step.prediction.detach()).logits) })
        XCTAssertEqual(disc.head.bias!.grad!.toArray()[0], -1, accuracy: 1e-5)
    }

    func testWarpIsIdentityForEqualMotionAndZeroFlowHead() {
        let config = PictarConfig.tiny
        let model = PictarGenerator(config, generator: Generator(seed: 4))
        model.warp.maskHead.weight.assign(Tensor.zeros(model.warp.maskHead.weight.shape))
        model.warp.maskHead.bias!.assign(Tensor.zeros(model.warp.maskHead.bias!.shape))
        noGrad {
            let source = model.prepare(source: drawnFace(cx: 31, cy: 33))
            // Driving motion = the source's own motion, applied to its canonical keypoints.
            let sourceMotion = model.motion(drawnFace(cx: 31, cy: 33)).motion
            let driving = MotionLayout.transform(canonical: source.canonical, motion: sourceMotion)
            let w = model.warp(source.volume, source: source.keypoints, driving: driving)
            XCTAssertLessThan(maxAbsoluteError(w.volume, source.volume), 1e-5)
            let s = config.volumeSize
            let grid = identityGrid3d(depth: config.volumeDepth, height: s, width: s).unsqueeze(0)
            XCTAssertLessThan(maxAbsoluteError(w.flow, grid), 1e-5)
            // Another driving motion moves the volume.
            let other = MotionLayout.transform(canonical: source.canonical, motion: sampleMotion(1, seed: 12))
            XCTAssertGreaterThan(maxAbsoluteError(model.warp(source.volume, source: source.keypoints, driving: other).volume, source.volume), 1e-2)
        }
    }

    func testKeypointTransformMatchesFormula() {
        let n = 3, k = 21
        let canonical = randn([n, k, 3], seed: 5) * 0.5
        let motion = sampleMotion(n, seed: 6)
        let got = MotionLayout.transform(canonical: canonical, motion: motion).toArray()
        let xc = canonical.toArray().map(Double.init), m = motion.toArray().map(Double.init)
        let w = 3 * k + 7
        for i in 0..<n {
            let row = Array(m[(i * w)..<((i + 1) * w)])
            let (p, y, r) = (row[3 * k + 4] * .pi / 180, row[3 * k + 5] * .pi / 180, row[3 * k + 6] * .pi / 180)
            // M = Rz(roll)·Ry(yaw)·Rx(pitch) written out; x·Mᵀ is M applied to the column vector x.
            let mm = [[cos(r) * cos(y), cos(r) * sin(y) * sin(p) - sin(r) * cos(p), cos(r) * sin(y) * cos(p) + sin(r) * sin(p)],
                      [sin(r) * cos(y), sin(r) * sin(y) * sin(p) + cos(r) * cos(p), sin(r) * sin(y) * cos(p) - cos(r) * sin(p)],
                      [-sin(y), cos(y) * sin(p), cos(y) * cos(p)]]
            let s = row[3 * k], t = [row[3 * k + 1], row[3 * k + 2], row[3 * k + 3]]
            for j in 0..<k {
                let x = Array(xc[((i * k + j) * 3)..<((i * k + j) * 3 + 3)])
                for a in 0..<3 {
                    let rotated = mm[a][0] * x[0] + mm[a][1] * x[1] + mm[a][2] * x[2]
                    let expected = s * (rotated + row[3 * j + a]) + t[a]
                    XCTAssertEqual(Double(got[(i * k + j) * 3 + a]), expected, accuracy: 1e-5)
                }
            }
        }
        // Gradients of the transform in the keypoints and every motion number (pose in degrees,
        // so a finite-difference step of 1e-2 degrees is small).
        let r = gradCheck([canonical.detach(), motion.detach()], eps: 1e-2) { MotionLayout.transform(canonical: $0[0], motion: $0[1]) }
        XCTAssertTrue(r.passed, "\(r)")
    }

    func testMotionEncoderPoseIsBinExpectation() {
        let config = PictarConfig.tiny
        let enc = MotionEncoder(config, generator: Generator(seed: 7))
        let p = noGrad { enc(drawnFace(cx: 32, cy: 32)) }
        XCTAssertEqual(p.motion.shape, [1, 70])
        XCTAssertEqual(p.canonical.shape, [1, 21, 3])
        let probs = p.poseLogits.softmax(dim: -1).toArray()
        let pose = Array(p.motion.toArray()[67..<70])
        for a in 0..<3 {
            var e = 0.0
            for b in 0..<config.poseBins {
                e += Double(probs[a * config.poseBins + b]) * (Double(b) + 0.5 - Double(config.poseBins) / 2) * config.poseBinDegrees
            }
            XCTAssertEqual(Double(pose[a]), e, accuracy: 1e-3)
        }
        XCTAssertEqual(enc.poseBin(0), 33)
        XCTAssertEqual(enc.poseBin(-0.1), 32)
        XCTAssertEqual(enc.poseBin(500), 65)
        XCTAssertEqual(enc.poseBin(-500), 0)
    }

    func testRenderFromCachedSource() {
        let config = PictarConfig.tiny
        let model = PictarGenerator(config, generator: Generator(seed: 8))
        noGrad {
            let src = model.prepare(source: drawnFace(cx: 32, cy: 32))
            XCTAssertEqual(src.volume.shape, [1, config.volumeChannels, config.volumeDepth, 16, 16])
            let frames = model.render(src, motion: sampleMotion(1, seed: 9))
            XCTAssertEqual(frames.shape, [1, 3, 64, 64])
            XCTAssertTrue(frames.toArray().allSatisfy { $0 > 0 && $0 < 1 })
        }
    }

    /// Tiny model, one source/driving pair (the driving face moved 5 px right and 3 px up):
    /// 120 Adam steps on the reconstruction losses take the L1 to below 40 % of its start.
    func testOverfitsOnePair() {
        var config = PictarConfig.tiny
        config.weightGAN = 0; config.weightEquivariance = 0; config.weightMotion = 0
        let model = PictarGenerator(config, generator: Generator(seed: 10))
        let opt = AdamW(model.trainableParameters(), learningRate: 3e-3)
        let b = PictarBatch(source: drawnFace(cx: 30, cy: 33), driving: drawnFace(cx: 35, cy: 30))
        let rng = Generator(seed: 11)
        var first: Float = 0, last: Float = 0
        for step in 0..<120 {
            opt.zeroGrad()
            let tape = Tape()
            let s = tape.record { model.generatorLoss(b, discriminator: nil, generator: rng) }
            tape.backward(s.loss)
            opt.step()
            let l1 = s.terms.first { $0.0 == "l1" }!.1
            if step == 0 { first = l1 }
            last = l1
        }
        print("PictarModelTests: overfitting one pair, L1 \(first) → \(last) in 120 steps")
        XCTAssertLessThan(last, 0.4 * first, "L1 went from \(first) to \(last)")
    }
}
