# SPDX-License-Identifier: MIT
# The model address space: the reference primary MMU (see doc/model.md).
list(APPEND UMN_SOURCES
  model/frame.c
  model/model.c
  model/fault.c
)
list(APPEND UMN_PUBLIC_HEADERS ${PROJECT_SOURCE_DIR}/include/umn/model.h)
