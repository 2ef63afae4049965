// Generated once from p11-kit's pkcs11.h: the PKCS#11 functions the module
// does not offer. Each answers CKR_FUNCTION_NOT_SUPPORTED.
#include "hsmnet/client/p11_internal.h"

extern "C" {

ck_rv_t C_CopyObject(ck_session_handle_t session, ck_object_handle_t object, struct ck_attribute *templ, unsigned long count, ck_object_handle_t *new_object) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_CreateObject(ck_session_handle_t session, struct ck_attribute *templ, unsigned long count, ck_object_handle_t *object) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_DecryptDigestUpdate(ck_session_handle_t session, unsigned char *encrypted_part, unsigned long encrypted_part_len, unsigned char *part, unsigned long *part_len) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_DecryptVerifyUpdate(ck_session_handle_t session, unsigned char *encrypted_part, unsigned long encrypted_part_len, unsigned char *part, unsigned long *part_len) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_DeriveKey(ck_session_handle_t session, struct ck_mechanism *mechanism, ck_object_handle_t base_key, struct ck_attribute *templ, unsigned long attribute_count, ck_object_handle_t *key) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_Digest(ck_session_handle_t session, unsigned char *data, unsigned long data_len, unsigned char *digest, unsigned long *digest_len) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_DigestEncryptUpdate(ck_session_handle_t session, unsigned char *part, unsigned long part_len, unsigned char *encrypted_part, unsigned long *encrypted_part_len) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_DigestFinal(ck_session_handle_t session, unsigned char *digest, unsigned long *digest_len) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_DigestInit(ck_session_handle_t session, struct ck_mechanism *mechanism) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_DigestKey(ck_session_handle_t session, ck_object_handle_t key) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_DigestUpdate(ck_session_handle_t session, unsigned char *part, unsigned long part_len) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_GetObjectSize(ck_session_handle_t session, ck_object_handle_t object, unsigned long *size) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_GetOperationState(ck_session_handle_t session, unsigned char *operation_state, unsigned long *operation_state_len) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_InitPIN(ck_session_handle_t session, unsigned char *pin, unsigned long pin_len) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_InitToken(ck_slot_id_t slot_id, unsigned char *pin, unsigned long pin_len, unsigned char *label) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_SetAttributeValue(ck_session_handle_t session, ck_object_handle_t object, struct ck_attribute *templ, unsigned long count) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_SetOperationState(ck_session_handle_t session, unsigned char *operation_state, unsigned long operation_state_len, ck_object_handle_t encryption_key, ck_object_handle_t authentiation_key) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_SetPIN(ck_session_handle_t session, unsigned char *old_pin, unsigned long old_len, unsigned char *new_pin, unsigned long new_len) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_SignEncryptUpdate(ck_session_handle_t session, unsigned char *part, unsigned long part_len, unsigned char *encrypted_part, unsigned long *encrypted_part_len) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_SignRecover(ck_session_handle_t session, unsigned char *data, unsigned long data_len, unsigned char *signature, unsigned long *signature_len) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_SignRecoverInit(ck_session_handle_t session, struct ck_mechanism *mechanism, ck_object_handle_t key) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_VerifyRecover(ck_session_handle_t session, unsigned char *signature, unsigned long signature_len, unsigned char *data, unsigned long *data_len) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_VerifyRecoverInit(ck_session_handle_t session, struct ck_mechanism *mechanism, ck_object_handle_t key) { return CKR_FUNCTION_NOT_SUPPORTED; }
ck_rv_t C_WaitForSlotEvent(ck_flags_t flags, ck_slot_id_t *slot, void *reserved) { return CKR_FUNCTION_NOT_SUPPORTED; }

}  // extern "C"
