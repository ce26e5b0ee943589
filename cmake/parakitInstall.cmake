# Installs the library, headers, the CLI and a relocatable parakitConfig.cmake.
include(CMakePackageConfigHelpers)

set(PARAKIT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/parakit)

install(TARGETS parakit EXPORT parakitTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/lib/include/parakit
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp")
install(FILES ${PROJECT_BINARY_DIR}/lib/include/parakit/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/parakit)
install(EXPORT parakitTargets NAMESPACE parakit:: DESTINATION ${PARAKIT_CMAKE_DIR})
# Also usable straight from the build tree: CMAKE_PREFIX_PATH=<build dir>.
export(EXPORT parakitTargets NAMESPACE parakit:: FILE ${PROJECT_BINARY_DIR}/parakitTargets.cmake)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/parakitConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/parakitConfig.cmake
                              INSTALL_DESTINATION ${PARAKIT_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/parakitConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/parakitConfig.cmake
              ${PROJECT_BINARY_DIR}/parakitConfigVersion.cmake
        DESTINATION ${PARAKIT_CMAKE_DIR})
