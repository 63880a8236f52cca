import ArgumentParser
import Foundation
import NeoIO
import NeoTrain

struct DataGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Make, inspect and import datasets; cache audio features.",
        subcommands: [DataSynth.self, DataStats.self, DataImport.self, DataFeatures.self, DataPreview.self, DataImportVideo.self])
}

struct DataSynth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Generate a synthetic performer corpus (espeak-ng speech, ground-truth motion, consent).")

    @Option(parsing: .unconditional, help: "Number of speakers (1…10000).")
    var identities: Int

    @Option(parsing: .unconditional, help: "Minutes of speech in all (more than 0, at most 6000; the disk must have room for about 2 MB a minute).")
    var minutes: Double

    @Option(parsing: .unconditional, help: "Seed; the same seed gives byte-identical shards.")
    var seed = 0

    @Option(help: "Output dataset folder (must not exist or be empty).")
    var out: String

    @Option(parsing: .unconditional, help: "Worker threads.")
    var threads = 2

    @Option(help: "Also render frames of this side (64, 128 or 256 px) into the shards; needs the head model from scripts/setup.sh.")
    var video: Int?

    func run() throws {
        InterruptCleanup.install()
        print(try DataCommand.synth(identities: identities, minutes: minutes, seed: seed, out: out, threads: threads, video: video))
    }
}

struct DataStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Per emotion and identity: lip/energy correlation, blink rate, pose statistics.")

    @Argument(help: "Dataset folder.")
    var folder: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        print(try DataCommand.stats(folder: folder, json: json))
    }
}

/// The manifest, consent and output options every importer takes.
struct ImportListing: ParsableArguments {
    @Option(help: "Manifest (CSV with a header row, or JSON): clip, identity, emotion, language, consent.")
    var manifest: String

    @Option(help: "Signed consent records (default: consent.json beside the manifest).")
    var consent: String?

    @Option(help: "Output dataset folder (must not exist or be empty).")
    var out: String
}

struct DataImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import audio files + .npy motion (float32 [T, D], 25 fps) listed in a CSV or JSON manifest.")

    @Option(help: "Folder of audio files.")
    var audio: String

    @Option(help: "Folder of .npy motion files.")
    var motion: String

    @OptionGroup var listing: ImportListing

    func run() throws {
        InterruptCleanup.install()
        print(try DataCommand.importClips(audio: audio, motion: motion, manifest: listing.manifest, consent: listing.consent, out: listing.out))
    }
}

struct DataFeatures: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Whisper log-mel and all hidden states: of one file (--audio, --out), or cached into every clip of a dataset (--dataset).")

    @Option(help: "Audio file (any format libsndfile reads).")
    var audio: String?

    @Option(help: "Output features file (.h5) for --audio.")
    var out: String?

    @Option(help: "Dataset folder whose clips get cached features.")
    var dataset: String?

    @Option(help: "Whisper encoder weights (default: Checkpoints/pretrained/whisper-tiny-en.safetensors, made by scripts/setup.sh).")
    var weights: String?

    @Flag(help: "Recompute features a dataset already holds.")
    var force = false

    func run() throws {
        InterruptCleanup.install()
        switch (audio, out, dataset) {
        case (let audio?, let out?, nil):
            try OutputGuard.refuseInputs(out: out, inputs: [("--audio", audio)] + (weights.map { [("--weights", $0)] } ?? []))
            print(try DataCommand.features(audio: audio, out: out, weights: weights))
        case (nil, nil, let dataset?):
            print(try DataCommand.features(dataset: dataset, weights: weights, force: force))
        case (_?, nil, nil): throw TrainError("data features: --audio needs --out FILE.h5")
        case (nil, _?, nil): throw TrainError("data features: --out goes with --audio FILE")
        default: throw TrainError("data features: give either --audio FILE --out FILE.h5, or --dataset DIR")
        }
    }
}

struct DataPreview: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preview",
        abstract: "Contact sheet (identities × frames, PNG) of a video dataset, and one clip as mp4 with its audio.")

    @Argument(help: "Dataset folder with video (data synth --video).")
    var folder: String

    @Option(help: "Contact sheet PNG to write.")
    var out: String?

    @Option(help: "Identities on the sheet (first clip of each).")
    var identities = 24

    @Option(help: "Frames per identity, evenly spaced over its clip.")
    var frames = 4

    @Flag(help: "Draw the 21 keypoints (lips red).")
    var keypoints = false

    @Option(help: "Write one clip as mp4 with its audio (ffmpeg).")
    var mp4: String?

    @Option(help: "Clip id for --mp4 (default: the first clip with video).")
    var clip: String?

    @Option(help: "Only the first seconds of the clip in --mp4.")
    var seconds: Double?

    func run() throws {
        print(try FacePreview.run(folder: folder, out: out, identities: identities, frames: frames, keypoints: keypoints,
                                  mp4: mp4, clip: clip, seconds: seconds))
    }
}

struct DataImportVideo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-video",
        abstract: "Import face-aligned square talking-head videos (25 fps, 16 kHz, resized; consent id per clip; motion left empty).")

    @Option(help: "Folder of videos named after the clip ids (mp4, mov, mkv, webm, avi, m4v).")
    var videos: String

    @OptionGroup var listing: ImportListing

    @Option(help: "Frame side in pixels (64, 128 or 256).")
    var size = 128

    func run() throws {
        InterruptCleanup.install()
        print(try VideoImport.run(videos: videos, manifest: listing.manifest, consent: listing.consent, out: listing.out, size: size))
    }
}
