import Foundation
import XCTest
import NeoIO
import NeoNN
import NeoTensor
import NeoTestSupport
import NeoTrain

/// In-process checks of the loop's arithmetic: accumulation, clipping, schedule, metrics, best
/// checkpoint.
final class TrainerTests: XCTestCase {
    /// Cycles through fixed batches.
    final class FixedSource: BatchSource {
        let batches: [(Tensor, Tensor)]
        var index = 0
        init(_ batches: [(Tensor, Tensor)]) { self.batches = batches }
        func next() throws -> (Tensor, Tensor) {
            defer { index += 1 }
            return batches[index % batches.count]
        }
        var position: [String: Int] { ["index": index] }
        func restore(position: [String: Int]) throws { index = position["index"] ?? 0 }
    }

    final class LinearTask: TrainingTask {
        let linear: Linear
        let source: FixedSource
        let evalSet: (Tensor, Tensor)?
        var model: Module { linear }
        init(seed: UInt64, batches: [(Tensor, Tensor)], evalSet: (Tensor, Tensor)? = nil) {
            linear = Linear(3, 2, generator: Generator(seed: seed))
            source = FixedSource(batches)
            self.evalSet = evalSet
        }
        func loss(_ b: (Tensor, Tensor)) throws -> Tensor { (linear(b.0) - b.1).square().mean() }
        func evaluate() throws -> [(String, Float)] {
            guard let e = evalSet else { return [] }
            return [("eval_loss", (linear(e.0) - e.1).square().mean().item)]
        }
    }

    var dir: URL!
    override func setUp() { dir = PythonCrossCheck.temporaryDirectory("trainer") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func folder(_ name: String) throws -> RunFolder { try RunFolder(path: dir.appendingPathComponent(name).path) }

    func batch(_ rows: Int, seed: UInt64) -> (Tensor, Tensor) {
        let g = Generator(seed: seed)
        return (Tensor.normal([rows, 3], generator: g), Tensor.normal([rows, 2], generator: g))
    }

    func concat(_ a: Tensor, _ b: Tensor) -> Tensor {
        Tensor(a.toArray() + b.toArray(), shape: [a.shape[0] + b.shape[0]] + Array(a.shape.dropFirst()))
    }

    func train(_ task: LinearTask, steps: Int, accumulation: Int = 1, clip: Float = 0, lr: Float = 0.1,
               schedule: (any LearningRateSchedule)? = nil, evalEvery: Int = 0, checkpointEvery: Int = 0,
               folder name: String) throws -> (RunFolder, TrainingOutcome) {
        var o = TrainerOptions(steps: steps)
        o.accumulation = accumulation
        o.clip = clip
        o.evalEvery = evalEvery
        o.checkpointEvery = checkpointEvery
        o.keepLast = 10
        o.logEvery = 1000
        let f = try folder(name)
        let trainer = Trainer(task: task, optimizer: SGD(task.linear.namedParameters(), learningRate: lr),
                              schedule: schedule ?? ConstantSchedule(lr), options: o, runFolder: f,
                              recipeText: "# test", modelKind: "linear-test")
        return (f, try trainer.run(resume: false))
    }

    /// Two accumulated micro-batches of 4 rows make the same update as one batch of 8 rows.
    func testAccumulationEqualsOneLargeBatch() throws {
        let a = batch(4, seed: 1), b = batch(4, seed: 2)
        let split = LinearTask(seed: 9, batches: [a, b])
        let whole = LinearTask(seed: 9, batches: [(concat(a.0, b.0), concat(a.1, b.1))])
        _ = try train(split, steps: 1, accumulation: 2, folder: "split")
        _ = try train(whole, steps: 1, accumulation: 1, folder: "whole")
        for (p, q) in zip(split.linear.parameters(), whole.linear.parameters()) {
            XCTAssertLessThan(maxAbsoluteError(p.value, q.value), 1e-6)
        }
        XCTAssertEqual(split.source.index, 2)
    }

    /// With SGD at lr 1, a clipped step moves the parameters by exactly the clip norm, and the
    /// metrics record the norm before clipping.
    func testClippingBoundsTheUpdateAndMetricsKeepThePreClipNorm() throws {
        let data = batch(6, seed: 5)
        let task = LinearTask(seed: 3, batches: [(data.0, data.1 * 10)])
        let before = task.linear.parameters().map { $0.value.toArray() }
        let (f, _) = try train(task, steps: 1, clip: 0.25, lr: 1, folder: "clip")
        var moved = 0.0
        for (p, b) in zip(task.linear.parameters(), before) {
            for (x, y) in zip(p.value.toArray(), b) { moved += Double(x - y) * Double(x - y) }
        }
        XCTAssertEqual(moved.squareRoot(), 0.25, accuracy: 1e-5)
        let line = try XCTUnwrap(MetricsLog.deterministicLines(path: f.metricsPath).first)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let norm = try XCTUnwrap(json["grad_norm"] as? Double)
        XCTAssertGreaterThan(norm, 1, "the test needs a gradient larger than the clip")
    }

    /// Each step uses the schedule's rate for its index, and it is what metrics.jsonl records.
    func testScheduleSetsTheRateOfEveryStep() throws {
        let schedule = WarmupCosineSchedule(peak: 0.05, warmupSteps: 3, totalSteps: 10, minLR: 0.005)
        let (f, outcome) = try train(LinearTask(seed: 1, batches: [batch(4, seed: 8)]), steps: 10,
                                     schedule: schedule, folder: "schedule")
        XCTAssertEqual(outcome.step, 10)
        let lines = MetricsLog.deterministicLines(path: f.metricsPath)
        XCTAssertEqual(lines.count, 10)
        for (i, line) in lines.enumerated() {
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            XCTAssertEqual(json["step"] as? Int, i + 1)
            XCTAssertEqual(Float(try XCTUnwrap(json["lr"] as? Double)), schedule.lr(at: i))
        }
    }

    /// Evaluation runs every N steps (and at the end); best.h5 holds the lowest eval_loss among
    /// checkpointed steps; keep-last and the final checkpoint are in place.
    func testEvaluationAndBestCheckpoint() throws {
        let task = LinearTask(seed: 2, batches: [batch(8, seed: 3), batch(8, seed: 4)], evalSet: batch(16, seed: 6))
        let (f, outcome) = try train(task, steps: 9, lr: 0.05, evalEvery: 2, checkpointEvery: 2, folder: "eval")
        XCTAssertEqual(outcome.ending, .finished)
        var evals: [Int: Double] = [:]
        for line in MetricsLog.deterministicLines(path: f.metricsPath) {
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            if let e = json["eval_loss"] as? Double { evals[json["step"] as! Int] = e }
        }
        XCTAssertEqual(evals.keys.sorted(), [2, 4, 6, 8, 9])
        let best = try XCTUnwrap(Checkpoint.info(of: f.checkpointsPath + "/best.h5").metric)
        XCTAssertEqual(Float(best), Float(evals.values.min()!))
        let steps = CheckpointManagerSteps(f.checkpointsPath)
        XCTAssertEqual(steps, [2, 4, 6, 8, 9])
    }

    func CheckpointManagerSteps(_ dir: String) -> [Int] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).compactMap(CheckpointManager.step(ofFileName:)).sorted()
    }

    /// A non-finite loss stops training with a message naming the step.
    func testNonFiniteLossStopsWithAClearError() throws {
        let bad = (Tensor([Float.nan, 0, 0], shape: [1, 3]), Tensor.zeros([1, 2]))
        XCTAssertThrowsError(try train(LinearTask(seed: 1, batches: [bad]), steps: 3, folder: "nan")) { e in
            XCTAssertEqual("\(e)", "step 1: loss is nan on the batch at loader position index 0; stopping (last checkpoint: none)")
        }
    }

    func testMetricsLogResumeDropsLaterAndPartialLines() throws {
        let path = dir.appendingPathComponent("m.jsonl").path
        var log: MetricsLog? = try MetricsLog(path: path)
        for s in 1...5 {
            var r = MetricsRecord(step: s)
            r.set("loss", Float(s) / 10)
            r.setTiming("it_s", 3.14159)
            try log!.append(r)
        }
        log = nil
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("{\"step\":6,\"lo".utf8))   // a line cut by a crash
        try handle.close()
        XCTAssertEqual(MetricsLog.deterministicLines(path: path).count, 6)
        log = try MetricsLog(path: path, keepingThrough: 3)
        XCTAssertEqual(MetricsLog.deterministicLines(path: path),
                       ["{\"step\":1,\"loss\":0.1}", "{\"step\":2,\"loss\":0.2}", "{\"step\":3,\"loss\":0.3}"])
        var r = MetricsRecord(step: 4)
        r.set("loss", Float.nan)
        try log!.append(r)
        XCTAssertEqual(MetricsLog.deterministicLines(path: path).last, "{\"step\":4,\"loss\":null}")
        _ = try MetricsLog(path: path, keepingThrough: 5)   // more than there is: keeps all
        XCTAssertEqual(MetricsLog.deterministicLines(path: path).count, 4)
        _ = try MetricsLog(path: path)                      // a fresh run empties it
        XCTAssertEqual(MetricsLog.deterministicLines(path: path), [])
    }
}
