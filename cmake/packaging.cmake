# SPDX-License-Identifier: MIT
# Debian packages with CPack: `cpack -G DEB` in a build configured with
# -DCMAKE_INSTALL_PREFIX=/usr gives
#   libumn0     the shared library (component lib)
#   libumn-dev  headers, libumn.so, libumn.a, umn.pc, section 3 pages (dev)
#   umn         the umn command, its preload library, umn(1) (tool)
# Run-time dependencies come from dpkg-shlibdeps (dpkg-dev).
set(CPACK_PACKAGE_NAME umn)
set(CPACK_PACKAGE_VENDOR "umn")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "userspace MMU notifiers")
set(CPACK_PACKAGE_CONTACT "umn maintainers <umn@invalid>")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL lib dev tool)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# umn and libumn-trace.so need libumn.so.0 of the libumn0 package: tell
# dpkg-shlibdeps where the built one is.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${PROJECT_BINARY_DIR}/src)
set(CPACK_DEBIAN_PACKAGE_LICENSE MIT)

set(CPACK_DEBIAN_LIB_PACKAGE_NAME libumn0)
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_LIB_PACKAGE_GENERATE_SHLIBS ON)
# libumn.so opens its decoder, libZydis.so.N.M, itself at the first
# umn_mm_self() (no DT_NEEDED, so dpkg-shlibdeps cannot see it); without it
# the patch source is off and interposition is used: recommended, not
# required.  Debian names the package after the soname (libzydis4.0).
if(UMN_ZYDIS_SONAME MATCHES "^libZydis\\.so\\.([0-9.]+)$")
  set(CPACK_DEBIAN_LIB_PACKAGE_RECOMMENDS "libzydis${CMAKE_MATCH_1}")
endif()
set(CPACK_COMPONENT_LIB_DESCRIPTION
  "userspace MMU notifiers: the shared library
 The Linux kernel's MMU notifiers in userspace: interval subscriptions with
 the collision-retry protocol, classic subscriptions under RCU, and event
 sources that report the real process's unmaps.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libumn-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "libumn0 (= ${PROJECT_VERSION}), liburcu-dev")
set(CPACK_COMPONENT_DEV_DESCRIPTION
  "userspace MMU notifiers: development files
 Headers (including the kernel-names header umn/compat/mmu_notifier.h),
 the static library, umn.pc for pkg-config and the section 3 man pages.")

set(CPACK_DEBIAN_TOOL_PACKAGE_NAME umn)
set(CPACK_DEBIAN_TOOL_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_TOOL_PACKAGE_DEPENDS "libumn0 (= ${PROJECT_VERSION})")
set(CPACK_COMPONENT_TOOL_DESCRIPTION
  "userspace MMU notifiers: the umn command
 umn trace prints every invalidation umn's event sources report in a
 program (and audits them with seccomp); umn selftest checks coverage.")
include(CPack)
