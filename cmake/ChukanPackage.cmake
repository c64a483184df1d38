# `make package`: the Debian package of chukan (CPack's DEB generator) — the binary, the data
# standard layout, example configuration under /etc/chukan (conffiles), systemd units with
# hardening, and the documentation. Dependencies are computed by dpkg-shlibdeps from the
# binary. docs/operations.md, "Installing from the Debian package".
include(GNUInstallDirs)

install(TARGETS chukan RUNTIME DESTINATION bin)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/data/layout ${PROJECT_SOURCE_DIR}/data/result_layout
                  ${PROJECT_SOURCE_DIR}/data/permissions
        DESTINATION share/chukan)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/haproxy/chukan-haproxy.cfg
        DESTINATION share/chukan/haproxy)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/systemd/chukan-server.service
              ${PROJECT_SOURCE_DIR}/packaging/systemd/chukan-hub.service
        DESTINATION lib/systemd/system)
# Absolute: /etc is outside the /usr prefix. The package's postinst gives them to group chukan.
install(FILES ${PROJECT_SOURCE_DIR}/packaging/etc/server.toml
              ${PROJECT_SOURCE_DIR}/packaging/etc/hub.toml
        DESTINATION /etc/chukan
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION share/doc/chukan)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION share/doc/chukan RENAME copyright)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION share/doc/chukan
        FILES_MATCHING PATTERN "*.md" PATTERN "*.yaml" PATTERN "*.png")

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "chukan")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "chukan developers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "intermediate server (中間サーバー) of the My Number information linkage, with a reference hub")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/debian/conffiles;${PROJECT_SOURCE_DIR}/packaging/debian/postinst;${PROJECT_SOURCE_DIR}/packaging/debian/prerm;${PROJECT_SOURCE_DIR}/packaging/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)
