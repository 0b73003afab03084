"""archlab.data"""
