# SPDX-License-Identifier: MIT
# Writes umn.pc from umn.pc.in for a prefix.  Included at configure time
# (the build tree's umn.pc) and by the install script, where
# CMAKE_INSTALL_PREFIX is the prefix really used: `cmake --install build
# --prefix X` gives X's paths, not the configure-time prefix.
# In: UMN_PC_IN, UMN_PC_OUT, UMN_LIBDIR, UMN_INCLUDEDIR, PROJECT_VERSION.
set(UMN_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
foreach(d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${UMN_${d}}")
    set(UMN_PC_${d} "${UMN_${d}}")
  else()
    set(UMN_PC_${d} "\${prefix}/${UMN_${d}}")
  endif()
endforeach()
configure_file("${UMN_PC_IN}" "${UMN_PC_OUT}" @ONLY)
