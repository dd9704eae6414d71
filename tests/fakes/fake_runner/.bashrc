# ~/.bashrc: the skeleton of /etc/skel, as adduser gives the official image's runner user
# (actions/runner images/Dockerfile: HOME=/home/runner, the runner installed there).
case $- in *i*) ;; *) return;; esac
HISTCONTROL=ignoreboth
