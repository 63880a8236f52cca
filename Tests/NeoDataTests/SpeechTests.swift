import XCTest
@testable import NeoData

final class SpeechTests: XCTestCase {
    func testEspeakProbe() throws {
        let voice = VoiceSettings(language: "en", variant: "m3", rate: 170, pitch: 50, range: 50)
        var runs: [SpokenText] = []
        let t0 = Date()
        for _ in 0..<3 {
            runs.append(try SpeechSynthesizer.shared.speak("Please pass the blue folder.", voice: voice))
        }
        print("time per call", Date().timeIntervalSince(t0) / 3)
        print("counts", runs.map { $0.samples.count })
        print("eq01", runs[0].samples == runs[1].samples, "eq12", runs[1].samples == runs[2].samples)
        let other = VoiceSettings(language: "de", variant: "f2", rate: 150, pitch: 60, range: 50)
        _ = try SpeechSynthesizer.shared.speak("Der Zug kam heute wieder zu spät.", voice: other)
        let again = try SpeechSynthesizer.shared.speak("Please pass the blue folder.", voice: voice)
        print("after other voice eq", again.samples == runs[2].samples, again.samples.count)
    }
}
