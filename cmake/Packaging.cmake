# The Debian package (scripts/package builds it; tests/package/check checks
# it): the programs, the systemd units, the example configuration as the
# conffile /etc/daybreak/daybreak.toml, and a `daybreak` system user made
# by postinst. Built with CPack from the same build tree the tests use.
include(GNUInstallDirs)

install(TARGETS daybreak daybreak-broker daybreak-ticker daybreak-runner daybreak-shim
                daybreak-notifier daybreak-pipeline
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES deploy/systemd/daybreak.target deploy/systemd/daybreak-broker.service
              deploy/systemd/daybreak-ticker.service deploy/systemd/daybreak-runner.service
              deploy/systemd/daybreak-notifier.service
        DESTINATION /lib/systemd/system)  # Debian 12's unit folder (not /usr/lib)
install(FILES deploy/daybreak.example.toml DESTINATION /etc/daybreak RENAME daybreak.toml)
install(FILES README.md docs/configuration.md docs/design.md docs/notifications.md docs/performance.md
              docs/pipeline.md docs/security.md schemas/PROTOCOL.md deploy/debian/copyright
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES deploy/prometheus/alerts.yml DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
# Debian policy: a gzipped changelog beside the copyright (a native package: changelog.gz).
set(DAYBREAK_CHANGELOG ${CMAKE_BINARY_DIR}/changelog.gz)
add_custom_command(OUTPUT ${DAYBREAK_CHANGELOG}
                   COMMAND gzip -9nc ${PROJECT_SOURCE_DIR}/deploy/debian/changelog > ${DAYBREAK_CHANGELOG}
                   DEPENDS ${PROJECT_SOURCE_DIR}/deploy/debian/changelog)
add_custom_target(daybreak_changelog ALL DEPENDS ${DAYBREAK_CHANGELOG})
install(FILES ${DAYBREAK_CHANGELOG} DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME daybreak)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Daybreak team <daybreak@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "scheduler for per-team daily data pipelines")
set(CPACK_PACKAGE_DESCRIPTION
    "Daybreak runs each team's pipeline every day at a set time in the\n"
    "team's time zone, retries what failed transiently, records every run\n"
    "and tells people what happened. A ticker, a broker (RocksDB), runners\n"
    "and a notifier talk over ZeroMQ.")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # the library packages, from the binaries themselves
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, tzdata")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.org/daybreak")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/postinst ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/package)
include(CPack)
