"""The developer preview page (TRD_CDS_PREVIEW=on) with its templates and static files."""
