/*
 * Entry point of rsagg_gtest.
 *
 * The rsagg module is loaded (env RSAGG_MODULE) before gtest expands the
 * parameterized tests, because the parameter lists come from enumerating the
 * UCT resources, and rsagg resources exist only once the module is loaded.
 */

#include "uct_test.h"

#include <gtest/gtest.h>
#include <stdio.h>

namespace {

/* Prints the closing "N passed, N failed, N skipped" line CI looks for */
class summary_printer : public testing::EmptyTestEventListener {
    void OnTestProgramEnd(const testing::UnitTest &unit_test) override
    {
        int passed = 0, failed = 0, skipped = 0;

        for (int i = 0; i < unit_test.total_test_suite_count(); ++i) {
            const testing::TestSuite *suite = unit_test.GetTestSuite(i);
            for (int j = 0; j < suite->total_test_count(); ++j) {
                const testing::TestInfo *info = suite->GetTestInfo(j);
                if (!info->should_run()) {
                    continue;
                }
                const testing::TestResult *result = info->result();
                if (result->Skipped()) {
                    ++skipped;
                } else if (result->Failed()) {
                    ++failed;
                } else {
                    ++passed;
                }
            }
        }

        printf("rsagg_gtest: %d passed, %d failed, %d skipped\n", passed,
               failed, skipped);
        fflush(stdout);
    }
};

} // namespace

int main(int argc, char **argv)
{
    rsagg_test::load_rsagg_module();

    testing::InitGoogleTest(&argc, argv);
    testing::UnitTest::GetInstance()->listeners().Append(
            new summary_printer());
    return RUN_ALL_TESTS();
}
