import Testing

@Suite struct DemoEndToEndTests {
    @Test func demoRunsOnTheTinyModel() throws {
        let folder = TemporaryFolder()
        let result = try TailorProcess.run(["demo", "--model", TailorProcess.fixture("tiny-bert"), "--llama", TailorProcess.fixture("tiny-llama"),
                                            "--output", folder.file("demo"), "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(result.json)
        #expect(json["reshard_identical"] as? Bool == true)
        #expect(json["shards"] as? Int == 3)
        #expect((json["bf16_max_relative_error"] as? Double ?? 1) <= 1.0 / 256)
        #expect(json["nf4_weights"] as? Int == 14)
        #expect(json["dequantized"] as? Int == 14)
        #expect((json["nf4_snr_db"] as? Double ?? 0) > 15)
        let losses = try #require(json["training_losses"] as? [Double])
        #expect(losses.count == 8 && losses.last! < losses.first!)
        #expect(!(json["generated_tokens"] as? [Int] ?? []).isEmpty)
    }
}
