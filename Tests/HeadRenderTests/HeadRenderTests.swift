import XCTest
import Foundation
import HeadRender
import NeoData
import NeoTensor

/// The head renderer against its own mesh: determinism, identities, keypoint projections and
/// lip opening in pixels. Needs the converted head model (scripts/setup.sh).
final class HeadRenderTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func model() throws -> HeadModel { try HeadRenderTests.headModel() }

    static func headModel() throws -> HeadModel {
        let path = HeadRenderTests.root.appendingPathComponent(HeadAsset.defaultPath).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("head model missing at \(path): \(HeadAsset.setupHint)")
        }
        guard let m = HeadAsset.shared(path) else { return try HeadAsset.load(path) }
        return m
    }

    /// Speech-like articulations: syllables alternating closed (p, b, m) and open vowels, with
    /// blinks, brow raises, gaze shifts and head motion.
    func articulation(frames: Int) -> Articulation {
        let g = Generator(seed: 77)
        var a = Articulation(frames: frames, jaw: [], open: [], width: [], round: [], smile: [], brow: [], aperture: [], close: [],
                             gazeX: [], gazeY: [], pitch: [], yaw: [], roll: [], scale: [], translation: [])
        var phase = 0.0
        for t in 0..<frames {
            phase += 0.5 + 0.4 * g.nextUniform()
            let v = Float(0.5 + 0.5 * sin(phase))
            a.jaw.append(0.05 + 0.75 * v); a.open.append(v < 0.15 ? -0.25 : 0.8 * v)
            a.width.append(Float(0.2 * sin(phase * 0.3))); a.round.append(Float(max(0, 0.4 * cos(phase * 0.2))))
            a.smile.append(0.2); a.brow.append(t % 40 < 8 ? 0.8 : 0); a.aperture.append(0)
            a.close.append(t % 50 < 3 ? 1 : 0)
            a.gazeX.append(Float(0.5 * sin(Double(t) * 0.05))); a.gazeY.append(0)
            a.pitch.append(Float(3 * sin(Double(t) * 0.07))); a.yaw.append(Float(8 * sin(Double(t) * 0.04))); a.roll.append(0)
            a.scale.append(1); a.translation += [0, 0, 0]
        }
        return a
    }

    func testSameSeedGivesIdenticalFramesAndOtherSeedsDifferentPeople() throws {
        let m = try model()
        var c = FaceControls()
        c.units[FaceControls.unit("jawOpen")] = 0.5
        c.yaw = 12
        let a = try HeadRenderer(model: m, identity: HeadIdentity.sample(seed: 11, model: m), size: 64).render(c)
        let b = try HeadRenderer(model: m, identity: HeadIdentity.sample(seed: 11, model: m), size: 64, threads: 1).render(c)
        XCTAssertEqual(a, b, "same seed, different thread counts")
        XCTAssertEqual(HeadIdentity.sample(seed: 11, model: m), HeadIdentity.sample(seed: 11, model: m))
        // Forty other people: every pair differs by a clear margin in mean absolute pixel value.
        var frames: [[UInt8]] = []
        for s in 0..<40 {
            frames.append(try HeadRenderer(model: m, identity: HeadIdentity.sample(seed: UInt64(100 + s), model: m), size: 64).render(c))
        }
        var smallest = Double.infinity
        for i in 0..<frames.count {
            for j in (i + 1)..<frames.count {
                var d = 0
                for k in 0..<frames[i].count { d += abs(Int(frames[i][k]) - Int(frames[j][k])) }
                smallest = min(smallest, Double(d) / Double(frames[i].count))
            }
        }
        XCTAssertGreaterThan(smallest, 8, "closest pair of 40 identities differs by \(smallest) grey levels on average")
        // Shapes differ too, not only colours: the number of shape targets in use varies.
        let ids = (0..<40).map { HeadIdentity.sample(seed: UInt64(100 + $0), model: m) }
        XCTAssertEqual(Set(ids.map { $0.shapeWeights.map(\.target) }).count, 40)
    }

    func testKeypointProjectionsLandOnTheirTriangles() throws {
        let m = try model()
        let r = try HeadRenderer(model: m, identity: HeadIdentity.sample(seed: 3, model: m), size: 256)
        var c = FaceControls()
        c.units[FaceControls.unit("jawOpen")] = 0.3
        c.pitch = 4; c.yaw = 6
        _ = r.render(c)
        let kp = r.keypoints()
        // The triangles seen within 2 px (0.5 mm of face) of each projection must include one at
        // most two triangles away from the keypoint vertex, for every keypoint facing the camera.
        var neighbours: [Int32: Set<Int>] = [:]
        for t in 0..<(m.faces.count / 3) {
            for k in 0..<3 { neighbours[m.faces[3 * t + k], default: []].insert(t) }
        }
        var hits = 0
        // Lids and the inner lip hide behind lashes and lips; the mouth corners sit in the crease
        // where the lips fold over them (their projection lands on the lip, a few triangles away).
        let visible = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 18]
        for k in visible {
            let x = Int(kp[2 * k]), y = Int(kp[2 * k + 1])
            XCTAssert(x >= 0 && x < 256 && y >= 0 && y < 256, "keypoint \(k) at (\(x), \(y)) is off the frame")
            var ring = Set<Int>()
            for t in neighbours[m.keypoints[k]] ?? [] {
                for j in 0..<3 { ring.formUnion(neighbours[m.faces[3 * t + j]] ?? []) }
            }
            var found = false
            for dy in -2...2 { for dx in -2...2 where ring.contains(r.triangle(atPixel: x + dx, y + dy)) { found = true } }
            if found { hits += 1 } else { print("keypoint \(k) at (\(x), \(y)) sees triangle \(r.triangle(atPixel: x, y))") }
        }
        XCTAssertEqual(hits, visible.count, "keypoints whose projection lands on their own mesh neighbourhood")
    }

    func testLipOpeningInPixelsFollowsTheMotionNumbers() throws {
        let m = try model()
        let rig = MeshRig(model: m)
        let a = articulation(frames: 150)
        let style = IdentityStyle.derive(index: 0, seed: 1)
        let motion = rig.motion(a, style: style)
        let r = try HeadRenderer(model: m, identity: HeadIdentity.sample(seed: 5, model: m), size: 128)
        let video = FaceVideo.render(a, renderer: r, rig: rig)
        XCTAssertEqual(video.count, 150)
        var pixels: [Double] = [], numbers: [Double] = []
        for t in 0..<a.frames {
            _ = r.render(MeshRig.controls(a, t, unitLength: rig.unitLength))
            let inside = r.mouthInteriorCoverage()
            // The inner-lip gap: interior pixels in the columns around the mouth centre.
            let kp = r.keypoints()
            let cx = Int(kp[2 * 17])
            var gap: Float = 0
            for y in 0..<128 { for x in (cx - 2)...(cx + 2) { gap += inside[y * 128 + x] } }
            pixels.append(Double(gap) / 5)
            numbers.append(Double(motion[t * 70 + 14 * 3 + 1] - motion[t * 70 + 12 * 3 + 1]))
        }
        let r2 = ClipMeasures.pearson(pixels, numbers, lag: 0)
        print("lip opening: pixels vs motion r = \(r2), pixel gap range \(pixels.min()!)…\(pixels.max()!)")
        XCTAssertGreaterThanOrEqual(r2, 0.9)
        XCTAssertGreaterThan(pixels.max()! - pixels.min()!, 3, "the mouth opens by several pixels")
    }
}

/// `data synth --video`: shards with frames, their determinism, and the pair loader.
final class FaceVideoCorpusTests: XCTestCase {
    func testVideoShardsAreByteIdenticalPerSeedAndLoadAsPairs() throws {
        let m = try HeadRenderTests.headModel()
        let rig = MeshRig(model: m)
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("neo-video-\(getpid())")
        defer { try? FileManager.default.removeItem(at: base) }
        func synth(_ name: String, seed: UInt64) throws -> String {
            let out = base.appendingPathComponent(name).path
            _ = try SyntheticPerformer.synthesize(identities: 2, minutes: 0.15, seed: seed, out: out, threads: 2, rig: rig, videoSize: 64)
            return out
        }
        let a = try synth("a", seed: 3), b = try synth("b", seed: 3), c = try synth("c", seed: 4)
        let manifest = try DatasetManifest.read(folder: a)
        XCTAssertEqual(manifest.source["motion_rig"], "mesh")
        XCTAssertEqual(manifest.source["video"], "64")
        for shard in manifest.shards {
            let x = try Data(contentsOf: URL(fileURLWithPath: a).appendingPathComponent(shard))
            let y = try Data(contentsOf: URL(fileURLWithPath: b).appendingPathComponent(shard))
            XCTAssertEqual(x, y, "shard \(shard) differs between two runs with seed 3")
        }
        let ds = try DatasetFolder(a), other = try DatasetFolder(c)
        let clipA = try ds.shards[0].read(ds.clips[0].id, video: true), clipC = try other.shards[0].read(other.clips[0].id, video: true)
        let va = try XCTUnwrap(clipA.video), vc = try XCTUnwrap(clipC.video)
        XCTAssertEqual(va.size, 64)
        XCTAssertEqual(va.count, clipA.frames)
        XCTAssertEqual(va.keypoints.count, clipA.frames * 42)
        XCTAssertEqual(va.camera.count, 4)
        XCTAssertNotEqual(Array(va.frames.prefix(va.frameBytes)), Array(vc.frames.prefix(vc.frameBytes)), "another seed, another person")
        // The motion stored is the mesh's: the lip keypoints move with speech.
        let lips: [Float] = (0..<clipA.frames).map { (t: Int) -> Float in
            clipA.motion.withUnsafeBufferPointer { FaceKeypoint.lipOpening($0.baseAddress! + t * 70) }
        }
        XCTAssertGreaterThan(lips.max()! - lips.min()!, 0.02)

        let loader = try VideoPairLoader(folder: a, split: .train, splitRule: SplitRule(validationPercent: 0, testPercent: 0), batchSize: 4, seed: 9)
        let b0 = try loader.batch(0), again = try loader.batch(0)
        XCTAssertEqual(b0.source.shape, [4, 3, 64, 64])
        XCTAssertEqual(b0.source.toArray(), again.source.toArray())
        XCTAssertEqual(b0.drivingMotion.toArray(), again.drivingMotion.toArray())
        for i in 0..<4 {
            let (clipID, frame) = b0.drivingFrames[i]
            let info = try XCTUnwrap(ds.clips.first { $0.id == clipID })
            XCTAssertEqual(info.identity, b0.identity[i])
            XCTAssertEqual(try XCTUnwrap(ds.clips.first { $0.id == b0.sourceFrames[i].clip }).identity, b0.identity[i], "source and driving share the identity")
            let clip = try ds.reader(for: info)!.read(clipID, video: true)
            XCTAssertEqual(Array(b0.drivingMotion.toArray()[i * 70 ..< i * 70 + 70]), Array(clip.motion[frame * 70 ..< frame * 70 + 70]))
            let firstByte = clip.video!.frames[frame * clip.video!.frameBytes]
            let loaded: Float = b0.driving.toArray()[i * 3 * 4096]
            XCTAssertEqual(loaded, Float(firstByte) / 255, accuracy: 1e-6)
        }
        let whole = try loader.clip(0)
        XCTAssertEqual(whole.video?.count, whole.frames)
        // On the fly: the stored face units, pose and head seed render the same frames again.
        let redrawn = try FaceVideo.rerender(whole, model: m, size: 64)
        XCTAssertEqual(redrawn.frames, whole.video?.frames, "re-rendered frames")
        XCTAssertEqual(redrawn.keypoints, whole.video?.keypoints)
        XCTAssertEqual(try FaceVideo.rerender(whole, model: m, size: 128).count, whole.frames)
        // Caching audio features rewrites the shards; the frames must survive it.
        try DatasetFolder.cacheFeatures(folder: a, featureDim: 2) { c in [Float](repeating: 0.5, count: c.frames * 4) }
        let rewritten = try DatasetFolder(a)
        let kept = try rewritten.shards[0].read(ds.clips[0].id, video: true)
        XCTAssertEqual(kept.video, clipA.video)
    }
}

/// The head asset's errors name the file and the fix.
final class HeadAssetTests: XCTestCase {
    func testMissingAndMalformedAssetsAreClearErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("neo-head-asset-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("none.safetensors").path
        XCTAssertThrowsError(try HeadAsset.load(missing)) { e in
            XCTAssertTrue("\(e)".contains(missing) && "\(e)".contains("scripts/setup.sh"), "\(e)")
        }
        let garbage = dir.appendingPathComponent("garbage.safetensors").path
        try Data("not a safetensors file at all".utf8).write(to: URL(fileURLWithPath: garbage))
        XCTAssertThrowsError(try HeadAsset.load(garbage)) { e in XCTAssertTrue("\(e)".contains(garbage), "\(e)") }
        XCTAssertNil(HeadAsset.shared(missing))
        // A video size the renderer is not built for is refused before anything is written.
        let out = dir.appendingPathComponent("out").path
        XCTAssertThrowsError(try SyntheticPerformer.synthesize(identities: 1, minutes: 0.05, seed: 1, out: out, rig: KeypointRules(), videoSize: 128)) { e in
            XCTAssertTrue("\(e)".contains("head model"), "\(e)")
        }
        XCTAssertThrowsError(try SyntheticPerformer.synthesize(identities: 1, minutes: 0.05, seed: 1, out: out, videoSize: 100)) { e in
            XCTAssertTrue("\(e)".contains("--video"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}
