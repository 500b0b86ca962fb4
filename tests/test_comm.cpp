// Shares of the ranks (include/saddlescope/comm.hpp; docs/design.md II.6):
// contiguous, in rank order, covering every item once, sizes within one.
#include <gtest/gtest.h>

#include "saddlescope/comm.hpp"
#include "saddlescope/run.hpp"

namespace saddlescope {
namespace {

TEST(Shares, ContiguousInRankOrderCoveringEveryItemOnce) {
  for (std::int64_t total : {0, 1, 2, 5, 7, 11, 12, 1000, 1001}) {
    for (int size : {1, 2, 3, 4, 7, 16}) {
      std::int64_t next = 0, smallest = total, largest = 0;
      for (int r = 0; r < size; ++r) {
        const Share s = share_of(total, r, size);
        EXPECT_EQ(s.first, next) << total << " items, rank " << r << " of " << size;
        next = s.end();
        smallest = std::min(smallest, s.count);
        largest = std::max(largest, s.count);
      }
      EXPECT_EQ(next, total) << total << " items over " << size << " ranks";
      EXPECT_LE(largest - smallest, 1);
    }
  }
  // The first total % size ranks take one more: 11 over 3 = 4, 4, 3.
  EXPECT_EQ(share_of(11, 0, 3).count, 4);
  EXPECT_EQ(share_of(11, 1, 3).first, 4);
  EXPECT_EQ(share_of(11, 2, 3).first, 8);
  EXPECT_EQ(share_of(11, 2, 3).count, 3);
  // More ranks than items: the last ranks get none.
  EXPECT_EQ(share_of(2, 2, 3).count, 0);
  EXPECT_EQ(share_of(2, 2, 3).first, 2);
}

TEST(Shares, OneProcessIsTheWholeRun) {
  Comm one;
  EXPECT_EQ(one.size(), 1);
  EXPECT_TRUE(one.root());
  EXPECT_TRUE(one.speaks());
  const Share s = one.share(37);
  EXPECT_EQ(s.first, 0);
  EXPECT_EQ(s.count, 37);
  const Bytes b = {1, 2, 3};
  ASSERT_EQ(one.allgather(b).size(), 1u);
  EXPECT_EQ(one.allgather(b)[0], b);
  EXPECT_EQ(one.gather(b)[0], b);
  EXPECT_EQ(one.max(5), 5);
  EXPECT_FALSE(one.stop_requested());
}

TEST(Shares, CheckpointFilesNameTheirRanks) {
  EXPECT_EQ(checkpoint_ranks("checkpoint.bin"), 1);
  EXPECT_EQ(checkpoint_ranks("checkpoint.rank-0-of-3.bin"), 3);
  EXPECT_EQ(checkpoint_ranks("checkpoint.rank-2-of-3.bin"), 3);
  EXPECT_EQ(checkpoint_ranks("checkpoint.rank-3-of-3.bin"), 0);      // no such rank
  EXPECT_EQ(checkpoint_ranks("checkpoint.rank-1-of-2.bin.tmp"), 0);  // being written
  EXPECT_EQ(checkpoint_ranks("checkpoint.bin.tmp"), 0);
  EXPECT_EQ(checkpoint_ranks("summary.json"), 0);
  EXPECT_EQ(checkpoint_file("run"), "run/checkpoint.bin");  // one process
}

}  // namespace
}  // namespace saddlescope
