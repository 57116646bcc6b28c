/* SPDX-License-Identifier: MIT */
/* open_close: insert and remove a subscription covering the whole space. */
#include "common.h"

int main(void)
{
	for (int i = 0; i < 3; i++) {
		struct umn_model *model = umn_model_new(0);
		struct umn_mirror *m;
		struct umn_mirror_stats st;

		CHECK(model != NULL);
		m = mirror_open(model, NULL);
		umn_mirror_stats(m, &st);
		CHECK_EQ(st.entries, 0);
		umn_mirror_destroy(m);
		umn_model_destroy(model);
	}
	printf("1 passed, 0 failed\n");
	return 0;
}
