# Install rules (included by CMakeLists.txt when MMK_INSTALL is on):
#   include/mmkit/*.h                      the public headers
#   lib/libmmkit.a                         mmkit::core, no HAL
#   lib/cmake/mmkit/                       find_package(mmkit CONFIG): the
#                                          exported mmkit::core and a version
#                                          file (same major.minor: 0.x breaks
#                                          at every minor release)
#   lib/pkgconfig/mmkit.pc                 pkg-config --cflags --libs mmkit
# Everything is relocatable: `cmake --install build --prefix <dir>` works
# for any <dir>.
include(CMakePackageConfigHelpers)

install(TARGETS mmkit_core EXPORT mmkitTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/mmkit
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")

set(MMK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/mmkit)
install(EXPORT mmkitTargets NAMESPACE mmkit:: DESTINATION ${MMK_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/mmkitConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/mmkitConfig.cmake
                              INSTALL_DESTINATION ${MMK_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/mmkitConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION}
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/mmkitConfig.cmake
              ${PROJECT_BINARY_DIR}/mmkitConfigVersion.cmake
        DESTINATION ${MMK_CMAKE_DIR})

# pkg-config: the prefix is found from the .pc file's own place.
file(RELATIVE_PATH MMK_PC_TO_PREFIX /mmk/${CMAKE_INSTALL_LIBDIR}/pkgconfig /mmk)
string(REGEX REPLACE "/$" "" MMK_PC_TO_PREFIX "${MMK_PC_TO_PREFIX}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/mmkit.pc.in ${PROJECT_BINARY_DIR}/mmkit.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/mmkit.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
