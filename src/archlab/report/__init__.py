"""archlab.report"""
