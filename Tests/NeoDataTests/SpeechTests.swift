import XCTest
import NeoData

final class SpeechTests: XCTestCase {
    let voice = VoiceSettings(language: "en", variant: "m3", rate: 170, pitch: 50, range: 50)

    func testPhonemeEventsAreOrderedAndInsideTheAudio() throws {
        let a = try SpeechSynthesizer.shared.speak("Please pass the blue folder.", voice: voice)
        XCTAssertEqual(a.sampleRate, 22050)
        XCTAssertGreaterThan(a.samples.count, a.sampleRate / 2)
        XCTAssertGreaterThan(a.phonemes.count, 12)
        XCTAssertEqual(a.phonemes.map(\.sample), a.phonemes.map(\.sample).sorted())
        XCTAssertTrue(a.phonemes.allSatisfy { $0.sample >= 0 && $0.sample <= a.samples.count })
        // "Please" starts with a bilabial, "blue" has one too.
        XCTAssertEqual(a.phonemes.first?.name, "p")
        XCTAssertTrue(a.phonemes.contains { $0.name == "b" })
        XCTAssertEqual(a.wordStarts.count, 5)
    }

    func testSpeechDoesNotDependOnWhatWasSpokenBefore() throws {
        let first = try SpeechSynthesizer.shared.speak("Please pass the blue folder.", voice: voice)
        _ = try SpeechSynthesizer.shared.speak("Der Zug kam heute wieder zu spät.", voice: VoiceSettings(language: "de", variant: "f2", rate: 150, pitch: 60))
        let again = try SpeechSynthesizer.shared.speak("Please pass the blue folder.", voice: voice)
        XCTAssertEqual(first.samples, again.samples)
        XCTAssertEqual(first.phonemes, again.phonemes)
        // Within one session, a second text is also what it would be after the same first text.
        let s1 = try SpeechSynthesizer.shared.session { s in try [s.speak("One.", voice: voice), s.speak("Two.", voice: voice)] }
        let s2 = try SpeechSynthesizer.shared.session { s in try [s.speak("One.", voice: voice), s.speak("Two.", voice: voice)] }
        XCTAssertEqual(s1[1].samples, s2[1].samples)
        // Prosody settings change the audio.
        var high = voice; high.pitch = 80
        XCTAssertNotEqual(try SpeechSynthesizer.shared.speak("Please pass the blue folder.", voice: high).samples, first.samples)
    }

    func testUnknownVoiceIsAClearError() {
        XCTAssertThrowsError(try SpeechSynthesizer.shared.speak("Hello.", voice: VoiceSettings(language: "zz-nosuch", variant: "m3"))) {
            XCTAssertTrue("\($0)".contains("voice 'zz-nosuch+m3' not found"), "\($0)")
        }
    }

    func testEveryBundledSentenceSpeaksInItsLanguage() throws {
        for lang in SentenceList.languages {
            let list = SentenceList.sentences(for: lang)
            XCTAssertGreaterThanOrEqual(list.count, 10, lang)
            let s = try SpeechSynthesizer.shared.speak(list[0], voice: VoiceSettings(language: lang, variant: "f3"))
            XCTAssertGreaterThan(s.phonemes.count, 20, lang)
        }
    }
}
