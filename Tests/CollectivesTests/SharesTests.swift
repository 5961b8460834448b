import Collectives
import Foundation
import Testing

/// How a global batch is cut between ranks, and how `tailor train` decides to use MPI.
@Suite struct SharesTests {
    @Test func sharesAreContiguousBalancedAndCoverEveryItemOnce() {
        for size in 1...5 {
            for count in 0...13 {
                let parts = (0..<size).map { Shares.share(of: count, rank: $0, size: size) }
                #expect(parts.first?.lowerBound == 0 && parts.last?.upperBound == count, "\(count) over \(size)")
                for (left, right) in zip(parts, parts.dropFirst()) { #expect(left.upperBound == right.lowerBound) }
                let lengths = parts.map(\.count)
                #expect(lengths.max()! - lengths.min()! <= 1, "\(count) over \(size): \(lengths)")
            }
        }
        // A batch smaller than the ranks leaves some ranks nothing: they still join every all-reduce.
        #expect((0..<4).map { Shares.share(of: 2, rank: $0, size: 4).count } == [0, 1, 0, 1])
    }

    @Test func aCommunicatorSharesARangeFromItsStart() {
        let members = ThreadGroup(size: 3).members
        #expect(members.map { $0.share(of: 10..<17) } == [10..<12, 12..<14, 14..<17])
        #expect(SingleProcess().share(of: 4..<9) == 4..<9)
    }

    @Test func autoUsesMPIOnlyUnderALauncherWithSeveralRanks() {
        #expect(!DistributedMode.auto.usesMPI(environment: [:]))
        #expect(!DistributedMode.auto.usesMPI(environment: ["OMPI_COMM_WORLD_SIZE": "1", "OMPI_COMM_WORLD_RANK": "0"]))
        #expect(DistributedMode.auto.usesMPI(environment: ["OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1"]))
        #expect(DistributedMode.auto.usesMPI(environment: ["PMIX_RANK": "0"]))
        #expect(!DistributedMode.none.usesMPI(environment: ["OMPI_COMM_WORLD_SIZE": "2"]))
        #expect(DistributedMode.mpi.usesMPI(environment: [:]))
    }

    @Test func aThreadGroupSumsInRankOrderAndBroadcasts() throws {
        let results = ThreadGroup(size: 3).run { member in
            var floats: [Float] = [Float(member.rank), 1, 0.1]
            member.allReduceSum(&floats)
            var maxima: [Double] = [Double(member.rank), -Double(member.rank)]
            member.allReduceMax(&maxima)
            let bytes = member.broadcast(member.rank == 1 ? [7, 8, 9] : [], from: 1)
            return (floats, maxima, bytes)
        }
        #expect(results.count == 3)
        for result in results {
            let (floats, maxima, bytes) = try result.get()
            #expect(floats == [3, 3, (0.1 as Float) + 0.1 + 0.1])
            #expect(maxima == [2, 0])
            #expect(bytes == [7, 8, 9])
        }
    }
}
