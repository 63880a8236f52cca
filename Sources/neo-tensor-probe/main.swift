// Runs one engine misuse by name so tests can check that it traps with a clear message
// (a trap cannot be observed inside the test process itself).
import NeoTensor

let scenario = CommandLine.arguments.dropFirst().first ?? ""
let x = Tensor([0.4, 1.6, -2.2], requiresGrad: true)
let tape = Tape()
switch scenario {
case "round-needs-grad":
    _ = tape.record { x.round() }
case "floor-needs-grad":
    _ = tape.record { x.floor() }
case "round-detached":
    let y = tape.record { x.detach().round() }
    print("ok \(y.toArray())")
default:
    print("unknown scenario '\(scenario)'")
}
