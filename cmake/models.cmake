# Generated protocol tables from the AWS service models (owned by the
# protocol room). Sets RAMPART_MODEL_SOURCES.
#
# tools/gen_models.py reads the latest service-2.json of each service from
# Debian's python3-botocore and writes one .cc per service plus a registry.
# The command depends on the generator and on every model file it reads, so
# a model upgrade or a generator change regenerates the tables.

set(RAMPART_BOTOCORE_DATA /usr/lib/python3/dist-packages/botocore/data
    CACHE PATH "botocore's data directory (AWS service models)")
set(RAMPART_MODEL_SERVICES
    iam sts organizations kms cloudtrail acm-pca secretsmanager securityhub events accessanalyzer)

set(_gen_script ${CMAKE_SOURCE_DIR}/tools/gen_models.py)
set(_gen_out ${CMAKE_BINARY_DIR}/generated/protocol)
set(_model_files "")
set(RAMPART_MODEL_SOURCES ${_gen_out}/model_registry.cc)

foreach(svc ${RAMPART_MODEL_SERVICES})
  # The generator picks the latest version directory; mirror that here.
  file(GLOB _versions LIST_DIRECTORIES false
       ${RAMPART_BOTOCORE_DATA}/${svc}/*/service-2.json)
  if(NOT _versions)
    message(FATAL_ERROR "No AWS model for ${svc} under ${RAMPART_BOTOCORE_DATA} "
                        "(install python3-botocore)")
  endif()
  list(SORT _versions)
  list(GET _versions -1 _latest)
  list(APPEND _model_files ${_latest})
  string(MAKE_C_IDENTIFIER ${svc} _ident)
  list(APPEND RAMPART_MODEL_SOURCES ${_gen_out}/model_${_ident}.cc)
endforeach()

add_custom_command(
  OUTPUT ${RAMPART_MODEL_SOURCES}
  COMMAND ${Python3_EXECUTABLE} ${_gen_script} --models ${RAMPART_BOTOCORE_DATA}
          --out ${_gen_out} ${RAMPART_MODEL_SERVICES}
  DEPENDS ${_gen_script} ${_model_files}
  COMMENT "Generating protocol tables from AWS service models"
  VERBATIM)
