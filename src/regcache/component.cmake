# SPDX-License-Identifier: MIT
# The registration cache (include/umn/regcache.h).
list(APPEND UMN_PUBLIC_HEADERS ${PROJECT_SOURCE_DIR}/include/umn/regcache.h)
list(APPEND UMN_SOURCES regcache/regcache.c)
