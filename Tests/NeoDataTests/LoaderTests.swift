import XCTest
import NeoTensor
import NeoTestSupport
import NeoData

final class LoaderTests: XCTestCase {
    func fixture() throws -> String { try TestCorpus.shared.folder(identities: 4, minutes: 1.0, seed: 21) }

    func options(seed: UInt64 = 5, prefetch: Int = 0) -> LoaderOptions {
        // All identities in train so the loader sees the whole fixture.
        LoaderOptions(windowFrames: 25, contextFrames: 6, batchSize: 4, seed: seed,
                      splitRule: SplitRule(validationPercent: 0, testPercent: 0), prefetch: prefetch, includeLabels: true)
    }

    func testWindowsMatchTheClipsTheyComeFrom() throws {
        let loader = try DatasetLoader(folder: try fixture(), options: options())
        let b = try loader.batch(at: LoaderPosition(epoch: 0, batch: 1))
        XCTAssertEqual(b.motion.shape, [4, 25, 70])
        XCTAssertEqual(b.previousMotion.shape, [4, 6, 70])
        XCTAssertEqual(b.audio!.shape, [4, 25 * 640])
        XCTAssertEqual(b.labels["viseme"]!.shape, [4, 25])
        for i in 0..<4 {
            let info = loader.clips.first { $0.id == b.clipIDs[i] }!
            let clip = try loader.dataset.reader(for: info)!.read(info.id)
            let s = b.startFrames[i]
            XCTAssertEqual(Array(b.motion.toArray()[(i * 25 * 70)..<((i + 1) * 25 * 70)]), Array(clip.motion[(s * 70)..<((s + 25) * 70)]))
            XCTAssertEqual(Array(b.audio!.toArray()[(i * 16000)..<((i + 1) * 16000)]), Array(clip.audio[(s * 640)..<((s + 25) * 640)]))
            let mask = Array(b.previousMask.toArray()[(i * 6)..<((i + 1) * 6)])
            let prev = b.previousMotion.toArray()
            for k in 0..<6 {
                let frame = s - 6 + k
                XCTAssertEqual(mask[k], frame >= 0 ? 1 : 0)
                let got = Array(prev[((i * 6 + k) * 70)..<((i * 6 + k + 1) * 70)])
                XCTAssertEqual(got, frame >= 0 ? Array(clip.motion[(frame * 70)..<((frame + 1) * 70)]) : [Float](repeating: 0, count: 70))
            }
            if case .ints(let v)? = clip.labels["viseme"] {
                XCTAssertEqual(Array(b.labels["viseme"]!.toArray()[(i * 25)..<((i + 1) * 25)]), v[s..<(s + 25)].map { Float($0) })
            } else { XCTFail("viseme label missing") }
            XCTAssertEqual(loader.identities[b.identity[i]], info.identity)
            XCTAssertEqual(Emotion.allCases[b.emotion[i]].rawValue, info.emotion)
        }
    }

    func testWindowsAtClipStartArePaddedAndMasked() throws {
        let loader = try DatasetLoader(folder: try fixture(), options: options())
        // Over a few epochs some window starts before frame K; its padding must be masked.
        var seen = false
        for e in 0..<6 where !seen {
            for p in 0..<loader.batchesPerEpoch {
                let b = try loader.batch(at: LoaderPosition(epoch: e, batch: p))
                for (i, s) in b.startFrames.enumerated() where s < 6 {
                    seen = true
                    let mask = Array(b.previousMask.toArray()[(i * 6)..<((i + 1) * 6)])
                    XCTAssertEqual(mask.filter { $0 == 0 }.count, 6 - s)
                }
            }
        }
        XCTAssertTrue(seen, "no window near a clip start in 6 epochs")
    }

    func testDeterministicForSeedShuffledAcrossShardsAndDifferentForOtherSeed() throws {
        let a = try DatasetLoader(folder: try fixture(), options: options(seed: 5))
        let b = try DatasetLoader(folder: try fixture(), options: options(seed: 5))
        let c = try DatasetLoader(folder: try fixture(), options: options(seed: 6))
        var idsA: [String] = [], idsC: [String] = []
        var shards = Set<String>()
        for _ in 0..<a.batchesPerEpoch {
            let x = try a.next(), y = try b.next(), z = try c.next()
            XCTAssertEqual(x.clipIDs, y.clipIDs)
            XCTAssertEqual(x.startFrames, y.startFrames)
            XCTAssertEqual(x.motion.toArray(), y.motion.toArray())
            idsA += x.clipIDs; idsC += z.clipIDs
            for id in x.clipIDs { shards.insert(a.clips.first { $0.id == id }!.shard) }
        }
        XCTAssertNotEqual(idsA, idsC)
        XCTAssertEqual(Set(idsA), Set(idsC), "both seeds cover the same clips in an epoch")
        // One batch mixes windows of several shards (identities live in different shards).
        let first = try a.batch(at: LoaderPosition(epoch: 0, batch: 0))
        XCTAssertGreaterThan(Set(first.clipIDs.map { String($0.prefix(6)) }).count, 1)
        XCTAssertGreaterThan(shards.count, 1)
        // An epoch differs from the next one.
        XCTAssertNotEqual(try a.batch(at: LoaderPosition(epoch: 1, batch: 0)).clipIDs + [String(describing: try a.batch(at: LoaderPosition(epoch: 1, batch: 0)).startFrames)],
                          first.clipIDs + [String(describing: first.startFrames)])
    }

    func testResumeFromSavedPositionGivesTheIdenticalContinuation() throws {
        let folder = try fixture()
        let full = try DatasetLoader(folder: folder, options: options(prefetch: 3))
        let perEpoch = full.batchesPerEpoch
        XCTAssertGreaterThan(perEpoch, 2)
        var reference: [Batch] = []
        var saved = LoaderPosition()
        for i in 0..<(perEpoch + 3) {  // crosses an epoch boundary
            let b = try full.next()
            reference.append(b)
            if i == perEpoch - 2 { saved = b.next }
        }
        // Save/restore through JSON, as a checkpoint would.
        let data = try JSONEncoder().encode(saved)
        let restored = try JSONDecoder().decode(LoaderPosition.self, from: data)
        let resumed = try DatasetLoader(folder: folder, options: options(prefetch: 3))
        resumed.seek(to: restored)
        for i in (perEpoch - 1)..<(perEpoch + 3) {
            let b = try resumed.next()
            XCTAssertEqual(b.position, reference[i].position)
            XCTAssertEqual(b.clipIDs, reference[i].clipIDs)
            XCTAssertEqual(b.startFrames, reference[i].startFrames)
            XCTAssertEqual(b.motion.toArray(), reference[i].motion.toArray())
            XCTAssertEqual(b.audio!.toArray(), reference[i].audio!.toArray())
        }
        XCTAssertEqual(reference[perEpoch].position, LoaderPosition(epoch: 1, batch: 0))
        // Prefetched batches equal directly computed ones.
        XCTAssertEqual(try full.batch(at: reference[1].position).motion.toArray(), reference[1].motion.toArray())
        full.stop(); resumed.stop()
    }

    func testSplitByIdentityNeverSharesAnIdentity() throws {
        let rule = SplitRule(validationPercent: 20, testPercent: 20)
        let ids = (0..<300).map { identityName($0) }
        var counts: [DatasetSplit: Int] = [:]
        for id in ids { counts[rule.split(of: id), default: 0] += 1; XCTAssertEqual(rule.split(of: id), rule.split(of: id)) }
        // Roughly the requested shares (300 identities: ±9 percentage points).
        XCTAssertEqual(Double(counts[.test]!) / 300, 0.2, accuracy: 0.09)
        XCTAssertEqual(Double(counts[.validation]!) / 300, 0.2, accuracy: 0.09)

        let folder = try TestCorpus.shared.folder(identities: 6, minutes: 0.6, seed: 3)
        let all = Set(try DatasetFolder(folder).clips.map(\.identity))
        var seen: [DatasetSplit: Set<String>] = [:]
        for split in DatasetSplit.allCases {
            var o = options(); o.split = split; o.splitRule = SplitRule(validationPercent: 30, testPercent: 30)
            do {
                let l = try DatasetLoader(folder: folder, options: o)
                seen[split] = Set(l.clips.map(\.identity))
                XCTAssertTrue(l.clips.allSatisfy { o.splitRule.split(of: $0.identity) == split })
            } catch let e as DataError where e.problem.contains("no clip") {
                seen[split] = []
            }
        }
        XCTAssertTrue(seen[.train]!.isDisjoint(with: seen[.validation]!))
        XCTAssertTrue(seen[.train]!.isDisjoint(with: seen[.test]!))
        XCTAssertTrue(seen[.validation]!.isDisjoint(with: seen[.test]!))
        XCTAssertEqual(seen.values.reduce(Set<String>()) { $0.union($1) }, all)
        XCTAssertGreaterThan(seen.values.filter { !$0.isEmpty }.count, 1, "6 identities all fell in one split")
    }

    func testLoaderThroughput() throws {
        let loader = try DatasetLoader(folder: try fixture(), options: LoaderOptions(
            windowFrames: 50, contextFrames: 8, batchSize: 16, seed: 1, splitRule: SplitRule(validationPercent: 0, testPercent: 0), prefetch: 4))
        _ = try loader.next()  // fills the clip cache
        let t0 = Date()
        var windows = 0
        while Date().timeIntervalSince(t0) < 1.0 { windows += try loader.next().clipIDs.count }
        let rate = Double(windows) / Date().timeIntervalSince(t0)
        print(String(format: "loader: %.0f windows/s (50 frames + audio, batch 16, prefetch on)", rate))
        XCTAssertGreaterThan(windows, 0)
        loader.stop()
    }

    func testCachedFeaturesComeTwoPerFrame() throws {
        let folder = try TestCorpus.shared.copy(of: try fixture(), tag: "data-features")
        defer { try? FileManager.default.removeItem(atPath: (folder as NSString).deletingLastPathComponent) }
        // Feature row r of a clip = [r, first audio sample of its 20 ms, 7].
        try DatasetFolder.cacheFeatures(folder: folder, featureDim: 3) { clip in
            (0..<(2 * clip.frames)).flatMap { r in [Float(r), clip.audio[r * 320], 7] }
        }
        let loader = try DatasetLoader(folder: folder, options: options())
        XCTAssertEqual(loader.featureDim, 3)
        let b = try loader.batch(at: LoaderPosition(epoch: 0, batch: 2))
        XCTAssertEqual(b.features!.shape, [4, 50, 3])
        let f = b.features!.toArray(), a = b.audio!.toArray()
        for i in 0..<4 {
            for r in 0..<50 {
                let row = Array(f[((i * 50 + r) * 3)..<((i * 50 + r + 1) * 3)])
                XCTAssertEqual(row, [Float(2 * b.startFrames[i] + r), a[i * 16000 + r * 320], 7])
            }
        }
        // Shards stay readable and the motion is unchanged.
        let before = try DatasetLoader(folder: try fixture(), options: options()).batch(at: LoaderPosition(epoch: 0, batch: 2))
        XCTAssertEqual(before.motion.toArray(), b.motion.toArray())
    }
}
