import XCTest
import Foundation
import NeoTensor
import NeoNN
import NeoIO
import NeoTestSupport

final class ModuleTests: XCTestCase {
    final class Block: Module {
        let norm: LayerNorm
        let attn: MultiHeadAttention
        let mlp: MLP
        init(_ dim: Int, generator: Generator) {
            norm = LayerNorm(dim)
            attn = MultiHeadAttention(dim: dim, heads: 2, generator: generator)
            mlp = MLP(dim, hidden: 2 * dim, generator: generator)
        }
    }

    final class Net: Module {
        let embed: Linear
        let blocks: [Block]
        let heads: [String: Linear]
        let extra: Parameter?
        let absent: Linear?
        let notes: [Float] = [1, 2, 3]
        let dropout: Dropout
        init(generator: Generator) {
            embed = Linear(3, 8, generator: generator)
            blocks = [Block(8, generator: generator), Block(8, generator: generator)]
            heads = ["score": Linear(8, 1, generator: generator), "aspect": Linear(8, 3, bias: false, generator: generator)]
            extra = Parameter(Tensor.zeros([2]))
            absent = nil
            dropout = Dropout(0.1, generator: generator.derived(5))
        }
    }

    func testPathsAreDottedStableAndInDeclarationOrder() {
        let net = Net(generator: Generator(seed: 1))
        let names = net.namedParameters().map(\.0)
        let expected = ["embed.weight", "embed.bias"]
            + (0..<2).flatMap { i in
                ["norm.weight", "norm.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
                 "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"].map { "blocks.\(i).\($0)" }
            }
            + ["heads.aspect.weight", "heads.score.weight", "heads.score.bias", "extra"]
        XCTAssertEqual(names, expected)
        // A second, separately built model lists the same paths in the same order.
        XCTAssertEqual(Net(generator: Generator(seed: 2)).namedParameters().map(\.0), names)
        XCTAssertEqual(net.namedModules().map(\.0).prefix(4), ["", "embed", "blocks.0", "blocks.0.norm"])
        XCTAssertEqual(net.children().map(\.0), ["embed", "blocks.0", "blocks.1", "heads.aspect", "heads.score", "dropout"])
        XCTAssertEqual(net.namedGenerators().map(\.0), ["dropout.generator"])
        XCTAssertTrue(net.parameter(at: "blocks.1.attn.qkv.weight") === net.blocks[1].attn.qkv.weight)
        XCTAssertEqual(net.parameter(at: "blocks.1.attn.qkv.weight")?.shape, [24, 8])
    }

    func testParameterCountAndWeightTyingListsSharedParameterOnce() {
        let net = Net(generator: Generator(seed: 1))
        let perBlock = 8 * 2 + (24 * 8 + 24) + (8 * 8 + 8) + (16 * 8 + 16) + (8 * 16 + 8)
        XCTAssertEqual(net.parameterCount, (3 * 8 + 8) + 2 * perBlock + (8 + 1) + 3 * 8 + 2)

        final class Tied: Module {
            let a: Linear
            let b: Linear
            init(_ l: Linear) { a = l; b = l }
        }
        let l = Linear(4, 4, generator: Generator(seed: 3))
        let tied = Tied(l)
        XCTAssertEqual(tied.namedParameters().map(\.0), ["a.weight", "a.bias"])
        XCTAssertEqual(tied.parameterCount, 20)
    }

    func testTrainEvalPropagatesToEveryDescendant() {
        let net = Net(generator: Generator(seed: 1))
        net.eval()
        XCTAssertTrue(net.namedModules().allSatisfy { !$0.1.training })
        net.blocks[0].train()
        XCTAssertTrue(net.blocks[0].mlp.training)
        XCTAssertFalse(net.blocks[1].mlp.training)
        net.train()
        XCTAssertTrue(net.namedModules().allSatisfy { $0.1.training })
    }

    func testFrozenParametersAreExcludedAndGetNoGradient() {
        let net = Net(generator: Generator(seed: 1))
        net.blocks[0].freeze()
        net.freeze { $0.hasPrefix("heads.") }
        let trainable = Set(net.trainableParameters().map(\.0))
        XCTAssertFalse(trainable.contains { $0.hasPrefix("blocks.0.") || $0.hasPrefix("heads.") })
        XCTAssertTrue(trainable.contains("blocks.1.attn.qkv.weight"))
        XCTAssertEqual(net.trainableParameterCount, net.trainableParameters().reduce(0) { $0 + $1.1.count })
        XCTAssertLessThan(net.trainableParameterCount, net.parameterCount)

        let x = randn([2, 5, 3], seed: 4)
        let tape = Tape()
        let loss = tape.record { () -> Tensor in
            var h = net.embed(x)
            for b in net.blocks { h = h + b.attn(b.norm(h)); h = h + b.mlp(h) }
            return net.heads["score"]!(h).mean()
        }
        tape.backward(loss)
        for (path, p) in net.namedParameters() {
            if trainable.contains(path) || path == "extra" || path.hasPrefix("heads.aspect") { continue }
            XCTAssertNil(p.grad, "frozen \(path) received a gradient")
        }
        XCTAssertNotNil(net.blocks[1].attn.qkv.weight.grad)
        // An optimiser over trainable parameters leaves frozen ones untouched.
        let before = net.blocks[0].norm.weight!.value.toArray()
        let opt = AdamW(net.trainableParameters(), learningRate: 0.1)
        opt.step()
        XCTAssertEqual(net.blocks[0].norm.weight!.value.toArray(), before)
        net.unfreeze()
        XCTAssertEqual(net.trainableParameterCount, net.parameterCount)
    }

    func testStateDictRoundTripThroughNPY() throws {
        let a = Net(generator: Generator(seed: 1)), b = Net(generator: Generator(seed: 2))
        XCTAssertNotEqual(a.blocks[1].mlp.fc2.weight.value.toArray(), b.blocks[1].mlp.fc2.weight.value.toArray())
        // Serialise every entry as NPY bytes and back, as a checkpoint would.
        var decoded: [String: Tensor] = [:]
        for (k, v) in a.stateDict() { decoded[k] = try NPY.decode(NPY.encode(v)) }
        let report = try b.load(stateDict: decoded)
        XCTAssertTrue(report.isClean)
        XCTAssertEqual(report.loaded.count, a.namedParameters().count)
        for ((pa, xa), (pb, xb)) in zip(a.namedParameters(), b.namedParameters()) {
            XCTAssertEqual(pa, pb)
            XCTAssertEqual(xa.value.toArray(), xb.value.toArray(), pa)
            XCTAssertFalse(xa.value.storage === xb.value.storage, "load must copy, not alias")
        }
        // The live dict shares storage; a copied dict does not change with the model.
        let live = a.stateDict(), copied = a.stateDict(copy: true)
        a.embed.weight.value.data[0] += 1
        XCTAssertEqual(live["embed.weight"]!.toArray()[0], a.embed.weight.value.toArray()[0])
        XCTAssertNotEqual(copied["embed.weight"]!.toArray()[0], a.embed.weight.value.toArray()[0])
    }

    func testStrictLoadReportsEveryBadNameAndWritesNothing() throws {
        let a = Net(generator: Generator(seed: 1)), b = Net(generator: Generator(seed: 2))
        var dict = a.stateDict(copy: true)
        dict["blocks.0.attn.qkv.weight"] = nil
        dict["heads.score.bias"] = nil
        dict["blocks.9.attn.qkv.weight"] = Tensor.zeros([24, 8])
        dict["embed.weight"] = Tensor.zeros([8, 4])
        let before = b.stateDict(copy: true)
        XCTAssertThrowsError(try b.load(stateDict: dict)) { error in
            guard let e = error as? StateDictError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.report.missing, ["blocks.0.attn.qkv.weight", "heads.score.bias"])
            XCTAssertEqual(e.report.unexpected, ["blocks.9.attn.qkv.weight"])
            XCTAssertEqual(e.report.misshaped, [.init(name: "embed.weight", expected: [8, 3], found: [8, 4])])
            let text = "\(e)"
            for name in ["blocks.0.attn.qkv.weight", "heads.score.bias", "blocks.9.attn.qkv.weight", "embed.weight"] {
                XCTAssertTrue(text.contains(name), text)
            }
            XCTAssertTrue(text.contains("[8, 3]") && text.contains("[8, 4]"), text)
        }
        for (k, v) in b.stateDict() { XCTAssertEqual(v.toArray(), before[k]!.toArray(), "strict failure modified \(k)") }

        // Non-strict: loads what fits, reports the rest.
        let report = try b.load(stateDict: dict, strict: false)
        XCTAssertEqual(report.missing.count, 2)
        XCTAssertEqual(report.unexpected.count, 1)
        XCTAssertEqual(report.misshaped.count, 1)
        XCTAssertEqual(report.loaded.count, a.namedParameters().count - 3)
        XCTAssertEqual(b.blocks[1].mlp.fc1.weight.value.toArray(), a.blocks[1].mlp.fc1.weight.value.toArray())
        XCTAssertEqual(b.embed.weight.value.toArray(), before["embed.weight"]!.toArray())
    }

    func testSequentialNamesLayersByIndex() {
        let g = Generator(seed: 5)
        let seq = Sequential([Linear(4, 6, generator: g), LayerNorm(6, affine: false), Linear(6, 2, bias: false, generator: g)])
        XCTAssertEqual(seq.namedParameters().map(\.0), ["layers.0.weight", "layers.0.bias", "layers.2.weight"])
        XCTAssertEqual(seq(randn([3, 4], seed: 1)).shape, [3, 2])
    }

    func testInitializerStatistics() {
        let g = Generator(seed: 9)
        func stats(_ t: Tensor) -> (mean: Double, std: Double, maxAbs: Double) {
            let v = t.toArray().map(Double.init)
            let m = v.reduce(0, +) / Double(v.count)
            let s = (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)).squareRoot()
            return (m, s, v.map(abs).max()!)
        }
        XCTAssertTrue(Initializer.fans([64, 32, 3, 3]) == (288, 576))
        // Kaiming normal (fan_in, ReLU gain): σ = √(2/288).
        let kn = stats(Initializer.kaimingNormal().make([64, 32, 3, 3], generator: g))
        XCTAssertEqual(kn.std, (2.0 / 288).squareRoot(), accuracy: 0.03 * (2.0 / 288).squareRoot())
        XCTAssertEqual(kn.mean, 0, accuracy: 0.005)
        // Kaiming uniform: bound √3·σ, σ = √(2/fan_out) with mode fanOut.
        let ku = stats(Initializer.kaimingUniform(mode: .fanOut).make([64, 32, 3, 3], generator: g))
        let kuBound = 3.0.squareRoot() * (2.0 / 576).squareRoot()
        XCTAssertLessThanOrEqual(ku.maxAbs, kuBound)
        XCTAssertGreaterThan(ku.maxAbs, 0.99 * kuBound)
        XCTAssertEqual(ku.std, kuBound / 3.0.squareRoot(), accuracy: 0.03 * kuBound)
        // Xavier uniform: bound √(6/(in+out)); Xavier normal: σ = √(2/(in+out)).
        let xu = stats(Initializer.xavierUniform().make([200, 100], generator: g))
        XCTAssertLessThanOrEqual(xu.maxAbs, (6.0 / 300).squareRoot())
        XCTAssertGreaterThan(xu.maxAbs, 0.99 * (6.0 / 300).squareRoot())
        let xn = stats(Initializer.xavierNormal(gain: 2).make([200, 100], generator: g))
        XCTAssertEqual(xn.std, 2 * (2.0 / 300).squareRoot(), accuracy: 0.03 * 2 * (2.0 / 300).squareRoot())
        let nm = stats(Initializer.normal(mean: 1, std: 0.02).make([100, 100], generator: g))
        XCTAssertEqual(nm.mean, 1, accuracy: 0.001)
        XCTAssertEqual(nm.std, 0.02, accuracy: 0.001)
        XCTAssertEqual(Initializer.zeros.make([3, 3], generator: g).toArray(), [Float](repeating: 0, count: 9))
        XCTAssertEqual(Initializer.ones.make([4], generator: g).toArray(), [1, 1, 1, 1])
        // Same seed, same weights; the default Linear init bound is 1/√in.
        let l1 = Linear(50, 20, generator: Generator(seed: 3)), l2 = Linear(50, 20, generator: Generator(seed: 3))
        XCTAssertEqual(l1.weight.value.toArray(), l2.weight.value.toArray())
        XCTAssertLessThanOrEqual(stats(l1.weight.value).maxAbs, 1 / 50.0.squareRoot())
        XCTAssertLessThanOrEqual(stats(l1.bias!.value).maxAbs, 1 / 50.0.squareRoot())
    }
}
