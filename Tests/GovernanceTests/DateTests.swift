import Foundation
import Governance
import XCTest

final class DateTests: XCTestCase {
    func testBirthDaysAreValidatedAndAgesCountWholeYears() throws {
        XCTAssertNil(GovernanceDate.day("2026-02-30"))
        XCTAssertNil(GovernanceDate.day("26-02-01"))
        XCTAssertNil(GovernanceDate.day("2026-2-1"))
        let born = try XCTUnwrap(GovernanceDate.day("2008-12-06"))
        let now = try XCTUnwrap(GovernanceDate.instant("2026-12-05T12:00:00Z"))
        XCTAssertEqual(GovernanceDate.age(birthDay: born, at: now), 17)
        let later = try XCTUnwrap(GovernanceDate.instant("2026-12-06T00:00:00Z"))
        XCTAssertEqual(GovernanceDate.age(birthDay: born, at: later), 18)
    }
}
