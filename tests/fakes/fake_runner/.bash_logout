# ~/.bash_logout (skeleton of /etc/skel)
